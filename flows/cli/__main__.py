from fashion_model.flows.cli import main

main()
