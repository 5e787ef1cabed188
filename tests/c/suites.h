/* The test suites, one per file. */
#ifndef WSM_TEST_SUITES_H
#define WSM_TEST_SUITES_H

void run_api_tests(void);       /* test_api.c: memory, NULL, enums, results, reconnect */
void run_handshake_tests(void); /* test_handshake.c: server and client opening handshakes */
void run_session_tests(void);   /* test_session.c: a client and a server wired in memory */
void run_timer_tests(void);     /* test_timers.c: handshake, auth, keepalive, close timers */
void run_deflate_tests(void);   /* test_deflate.c: permessage-deflate */

#endif
