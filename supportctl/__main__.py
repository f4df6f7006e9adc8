from supportctl.cli.app import main

# Guarded: the parsing workers (services.parsing, spawned) import this module
# as __mp_main__ and must not run the command line again.
if __name__ == "__main__":
    main()
