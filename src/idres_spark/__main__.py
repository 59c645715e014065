import sys

from idres_spark.cli import main

sys.exit(main())
