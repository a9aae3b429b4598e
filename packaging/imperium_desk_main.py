"""The frozen app's entry point (PyInstaller runs this file as `__main__`): the same `main` as the
`imperium-desk` console script. `freeze_support` first, so a child process that the frozen executable starts
(forkserver: the offloaded fitting, `replay --seeds` workers) runs its task instead of the desk's CLI."""

import multiprocessing
import sys

from imperium_desk.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())
