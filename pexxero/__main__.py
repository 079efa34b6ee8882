import sys

from pexxero.cli import main

sys.exit(main())
