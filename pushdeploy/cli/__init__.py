"""The command line: argv -> one command -> an exit status, one module per command or family."""
