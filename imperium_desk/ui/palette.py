"""Semantic colours: one hex value per meaning, for everything the theme (theme.py, resources/theme.qss) does not
colour by itself. No Qt here, so Qt-free modules (the blotter's columns) can name a colour too.

Chart series colours stay with their charts (charts.py, models_panel.py): they tell series apart and carry no
meaning shared with the rest of the window.
"""

from __future__ import annotations

from typing import Final

# Text on a dark background.
BUY: Final = "#3fb950"  # a buy: sides in the blotter, the ladder's ask (what a click buys)
SELL: Final = "#f85149"  # a sell: sides in the blotter, the ladder's bid (what a click sells)
PROFIT: Final = BUY
LOSS: Final = SELL
GOOD: Final = "#3fb950"  # something finished well: a complete parent, a filled child, an applied proposal
ERROR: Final = "#ff6b6b"  # failed, rejected or refused; inline error messages
WARN: Final = "#d29922"  # partly done or stopped (partial fill, cancelled); a drill acting on the market now
NOTICE: Final = "#e0b341"  # waiting on someone, or not the default: a pending proposal, a model override
MUTED: Final = "#7d8590"  # nothing to report: a flat position, a proposal a human turned down

# Fills behind white text (a checked BUY/SELL toggle).
BUY_FILL: Final = "#1f8f4e"
SELL_FILL: Final = "#c0392b"
ON_FILL: Final = "#ffffff"

# The mode badge's fills (the PAPER badge keeps the theme's): LIVE sends real orders, PAPER · LIVE DATA fills on
# paper against the broker's real quotes. Both must read at a glance as "not the simulator".
LIVE_FILL: Final = "#e05555"  # white text on it (ON_FILL)
LIVE_DATA_FILL: Final = "#f0883e"  # amber-orange, apart from PAPER's yellow; dark text on it (ON_LIGHT_FILL)
ON_LIGHT_FILL: Final = "#0c0e11"

# Row and column backgrounds in the option tables.
ATM_ROW: Final = "#4a3f1c"  # the strike nearest the underlying, in the ladder and the multi-strike preview
STRIKE_COLUMN: Final = "#2a3140"
