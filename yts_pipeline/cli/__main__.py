import sys

from yts_pipeline.cli.main import main

sys.exit(main())
