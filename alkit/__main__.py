import sys

from alkit.cli import main

sys.exit(main())
