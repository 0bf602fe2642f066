from dicom_rewrite.cli import main

raise SystemExit(main())
