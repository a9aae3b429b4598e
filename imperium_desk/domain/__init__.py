"""Domain records: instruments, orders, fills, enums. Pure data; no I/O, no clock."""
