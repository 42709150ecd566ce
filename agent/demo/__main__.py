import sys

from agent.demo.run import main

sys.exit(main())
