import sys

from ionjax.cli import main

sys.exit(main())
