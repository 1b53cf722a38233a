/* The loopback interface of a new network namespace, brought up. */
#ifndef LR_NETLO_H
#define LR_NETLO_H

/* Sets "lo" up; the kernel gives it 127.0.0.1 and ::1 then. 0 or -errno. */
int netlo_up(void);

#endif
