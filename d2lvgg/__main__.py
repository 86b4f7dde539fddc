import sys

from d2lvgg.tools.cli import main  # absolute: launchers that take a script (msrun) run this file

sys.exit(main())
