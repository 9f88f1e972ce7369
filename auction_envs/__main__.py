import sys

from auction_envs.cli import main

sys.exit(main())
