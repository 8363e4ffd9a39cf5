"""Stage computations: what each stage (and predict, export, calibrate) computes, on the job side."""
