"""Generate one API page per module of src/mlrsir at build time (mkdocs-gen-files).

The pages are derived from the package tree when the site is built, so a module that is
moved or renamed never leaves a stale page behind; the navigation is written as a
literate-nav SUMMARY.md.
"""

from pathlib import Path

import mkdocs_gen_files

PACKAGE_ROOT = Path(__file__).resolve().parents[2] / "src"

nav = mkdocs_gen_files.Nav()
for source in sorted((PACKAGE_ROOT / "mlrsir").rglob("*.py")):
    module_parts = source.relative_to(PACKAGE_ROOT).with_suffix("").parts
    if "static" in module_parts or module_parts[-1] == "__main__":
        continue
    doc_path = Path(*module_parts).with_suffix(".md")
    if module_parts[-1] == "__init__":
        module_parts = module_parts[:-1]
        doc_path = doc_path.with_name("index.md")
    nav[module_parts] = doc_path.as_posix()
    with mkdocs_gen_files.open(Path("api", doc_path), "w") as page:
        page.write(f"# `{'.'.join(module_parts)}`\n\n::: {'.'.join(module_parts)}\n")
    mkdocs_gen_files.set_edit_path(Path("api", doc_path), source.relative_to(PACKAGE_ROOT.parent))

with mkdocs_gen_files.open("api/SUMMARY.md", "w") as summary:
    summary.writelines(nav.build_literate_nav())
