from mer_ray.infra.interrupts import exit_process
from preprocessing.cli import main

exit_process(main())
