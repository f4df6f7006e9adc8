from supportctl.cli.app import main

main()
