"""python -m llama_cpp.doctor"""

import sys

from llama_cpp.doctor import main

sys.exit(main())
