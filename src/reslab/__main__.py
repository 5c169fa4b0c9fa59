import sys

try:
    from reslab.cli import main
except KeyboardInterrupt:  # Ctrl-C while Python imports the CLI: no traceback
    sys.stderr.write("reslab: interrupted\n")
    sys.exit(130)

if __name__ == "__main__":
    main()
