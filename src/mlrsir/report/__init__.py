"""Benchmark report: tables (Markdown/CSV/JSON), figures and the paper's reference figures.

Entry point: :func:`mlrsir.report.writer.write_report`.
"""
