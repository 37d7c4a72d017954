import sys

from mlrsir.cli.main import main

sys.exit(main())
