/* SPDX-License-Identifier: MIT */
/* conf-tests.h - the test cases of the conformance suite, by half. */
#ifndef CONF_TESTS_H
#define CONF_TESTS_H

#include <check.h>

/* Add the test cases, each looped over driver indexes [0, ndrivers). */
void conf_add_read_tests(Suite *s, int ndrivers);
void conf_add_write_tests(Suite *s, int ndrivers);
void conf_add_log_tests(Suite *s, int ndrivers);
void conf_add_extra_tests(Suite *s, int ndrivers);
void conf_add_thread_tests(Suite *s, int ndrivers);
/* The eml sample driver's own promises (needs eml loaded). */
void conf_add_eml_tests(Suite *s);
/* The bundled samples agree (needs the maildir driver, else skipped). */
void conf_add_sample_tests(Suite *s);

#endif
