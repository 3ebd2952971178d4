/* Commands of the resecg binary that live outside main.c: each takes the
 * arguments after its name and returns the exit status. */
#ifndef RESECG_COMMANDS_H
#define RESECG_COMMANDS_H

/* resecg sweep plan | run | status (cli/sweep_cmd.c) */
int cmd_sweep(int argc, char **argv);

/* resecg report RESULTS_DIR: tables, statistics and HTML of a sweep (cli/report_cmd.c) */
int cmd_report(int argc, char **argv);

#endif
