import sys

from cxgrad.cli import main

sys.exit(main())
