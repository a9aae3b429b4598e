"""Orders blotter: every parent order the desk runs, its child orders underneath, newest parent on top.

`book` (plain state) and `columns` import no Qt, so their logic is tested without a window; `model` (the Qt item
model and its status filter) and `widget` (the panel) are imported from their modules, never re-exported here, so
importing the plain parts never loads Qt.
"""
