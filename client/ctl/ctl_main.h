// appkitctl's command table and dispatch. Each command has up to two
// forms: on one daemon by its pid file (--pid-file F), and on the daemons
// of a daemons.yaml (--config F; ./daemons.yaml when there is one and
// neither is given). A command that is not written yet (watch,
// worker, run) is one more row of the table in ctl_main.cc.
#ifndef APPKIT_CLIENT_CTL_CTL_MAIN_H_
#define APPKIT_CLIENT_CTL_CTL_MAIN_H_

namespace appkit::ctl {

// The whole program: returns the exit code.
int CtlMain(int argc, char** argv);

}  // namespace appkit::ctl

#endif  // APPKIT_CLIENT_CTL_CTL_MAIN_H_
