from preprocessing.cli import main
from preprocessing.interrupts import exit_process

exit_process(main())
