from synth_cli.main import main

main()
