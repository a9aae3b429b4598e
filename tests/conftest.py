"""Shared test set-up. Qt must see the offscreen platform before anything imports it."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
