from vidserve.cli import main

raise SystemExit(main())
