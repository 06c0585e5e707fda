from unlearn_opt.cli import main

main()
