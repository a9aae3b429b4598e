from imperium_desk.cli import main

raise SystemExit(main())
