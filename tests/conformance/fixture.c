/*
 * The reference side of the ATF conformance tests: the same test cases as
 * fixture.rs, with the same names, metadata and order, written against
 * libatf-c 0.21. tests/atf_conformance.rs builds it (`cc fixture.c -latf-c`)
 * and compares every observable byte with the Rust runtime's fixture.
 *
 * The Rust runtime always prints a `timeout`, so every case here sets one
 * explicitly (30, the runtime's default, unless the Rust case sets another).
 * The cases `empty_reason`, `newline_reason`, `panic` and `hang` show the
 * deliberate differences listed in src/atf/strict.rs: here they do what
 * atf-c does (and what kyua calls broken).
 */

#include <atf-c.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A case with a description and the runtime's default timeout. */
#define CASE_T(name, descr, timeout) \
    ATF_TC(name); \
    ATF_TC_HEAD(name, tc) \
    { \
        atf_tc_set_md_var(tc, "descr", descr); \
        atf_tc_set_md_var(tc, "timeout", timeout); \
    } \
    ATF_TC_BODY(name, tc)
#define CASE(name, descr) CASE_T(name, descr, "30")

static const char *
config_or(const atf_tc_t *tc, const char *name, const char *dflt)
{
    return atf_tc_has_config_var(tc, name) ? atf_tc_get_config_var(tc, name)
                                           : dflt;
}

CASE(pass, "a passing test") {}

CASE(fail, "atf_tc_fail with a formatted reason") { atf_tc_fail("boom %d", 42); }

CASE(require, "a failed require") { ATF_REQUIRE(1 == 2); }

CASE(checks, "three non-fatal failures")
{
    ATF_CHECK(1 == 2);
    atf_tc_fail_nonfatal("nf x");
    ATF_CHECK_EQ(3, 4);
}

CASE(skip, "skips") { atf_tc_skip("not today"); }

CASE(xfail_fatal, "expect_fail then a fatal failure")
{
    atf_tc_expect_fail("bug 123");
    atf_tc_fail("it broke");
}

CASE(xfail_checks, "expect_fail then two failing checks")
{
    atf_tc_expect_fail("bug 9");
    ATF_CHECK(1 == 2);
    ATF_CHECK(1 == 2);
}

CASE(xfail_none, "expect_fail and nothing fails") { atf_tc_expect_fail("r"); }

CASE(xfail_pass, "expect_fail then pass")
{
    atf_tc_expect_fail("r");
    atf_tc_pass();
}

CASE(xfail_skip, "expect_fail then skip")
{
    atf_tc_expect_fail("r");
    atf_tc_skip("s");
}

CASE(xfail_abort, "expect_fail then abort")
{
    atf_tc_expect_fail("r");
    abort();
}

CASE(check_then_pass, "a failing check then pass")
{
    ATF_CHECK(1 == 2);
    atf_tc_pass();
}

CASE(check_then_xfail_fatal, "a failing check, expect_fail, a fatal failure")
{
    ATF_CHECK(1 == 2);
    atf_tc_expect_fail("later");
    atf_tc_fail("fatal");
}

CASE(check_then_xfail_end, "a failing check, expect_fail, a failing check, end")
{
    ATF_CHECK(1 == 2);
    atf_tc_expect_fail("r");
    ATF_CHECK(1 == 2);
}

CASE(exit_code, "expect_exit 3 then exit 3")
{
    atf_tc_expect_exit(3, "exits 3");
    exit(3);
}

CASE(exit_any, "expect_exit any then exit 5")
{
    atf_tc_expect_exit(-1, "any exit");
    exit(5);
}

CASE(signal_abrt, "expect_signal SIGABRT then abort")
{
    atf_tc_expect_signal(SIGABRT, "aborts");
    abort();
}

CASE(signal_any, "expect_signal any then SIGTERM")
{
    atf_tc_expect_signal(-1, "any sig");
    raise(SIGTERM);
}

CASE(death, "expect_death then exit 7")
{
    atf_tc_expect_death("dies");
    exit(7);
}

CASE(timeout_hangs, "expect_timeout then sleep")
{
    atf_tc_expect_timeout("hangs");
    sleep(60);
}

CASE(exit_returns, "expect_exit then return") { atf_tc_expect_exit(3, "r"); }

CASE(signal_returns, "expect_signal then return") { atf_tc_expect_signal(SIGABRT, "r"); }

CASE(death_returns, "expect_death then return") { atf_tc_expect_death("r"); }

CASE(timeout_returns, "expect_timeout then return") { atf_tc_expect_timeout("r"); }

CASE(exit_then_fail, "expect_exit then fail")
{
    atf_tc_expect_exit(3, "r");
    atf_tc_fail("oops");
}

CASE(exit_then_pass, "expect_exit then pass")
{
    atf_tc_expect_exit(3, "r");
    atf_tc_pass();
}

CASE(death_then_skip, "expect_death then skip")
{
    atf_tc_expect_death("r");
    atf_tc_skip("s");
}

CASE(xfail_twice, "expect_fail a, check, expect_fail b, check")
{
    atf_tc_expect_fail("a");
    ATF_CHECK(1 == 2);
    atf_tc_expect_fail("b");
    ATF_CHECK(1 == 2);
}

CASE(xfail_then_pass_mode, "expect_fail, check, expect_pass")
{
    atf_tc_expect_fail("bug 9");
    ATF_CHECK(1 == 2);
    atf_tc_expect_pass();
}

ATF_TC_WITH_CLEANUP(cleanup_cfg);
ATF_TC_HEAD(cleanup_cfg, tc)
{
    atf_tc_set_md_var(tc, "descr", "reads config x; the cleanup writes a file");
    atf_tc_set_md_var(tc, "timeout", "30");
}
ATF_TC_BODY(cleanup_cfg, tc)
{
    const char *x = config_or(tc, "x", "(unset)");
    if (strcmp(x, "hello") != 0)
        atf_tc_fail("x is %s", x);
}
ATF_TC_CLEANUP(cleanup_cfg, tc)
{
    FILE *f = fopen("cleanup.out", "w");
    if (f == NULL)
        exit(2);
    fprintf(f, "cleanup x=%s\n", config_or(tc, "x", "(unset)"));
    fclose(f);
}

CASE(prog_abs, "require_prog of a missing absolute program")
{
    atf_tc_require_prog("/nonexistent/prog");
}

CASE(prog_bare, "require_prog of a missing bare name")
{
    atf_tc_require_prog("no-such-prog-xyz");
}

CASE(srcdir, "skips naming the srcdir config variable")
{
    atf_tc_skip("srcdir=%s", config_or(tc, "srcdir", "(unset)"));
}

ATF_TC(metadata);
ATF_TC_HEAD(metadata, tc)
{
    atf_tc_set_md_var(tc, "descr", "every kind of metadata");
    atf_tc_set_md_var(tc, "require.user", "unprivileged");
    atf_tc_set_md_var(tc, "require.progs", "/bin/sh ls");
    atf_tc_set_md_var(tc, "X-custom", "some value");
    atf_tc_set_md_var(tc, "timeout", "7");
}
ATF_TC_BODY(metadata, tc) {}

CASE(empty_reason, "fails with an empty reason") { atf_tc_fail("%s", ""); }

CASE(newline_reason, "fails with a newline in the reason") { atf_tc_fail("line1\nline2"); }

/* C has no panic; the nearest thing is a crash. */
CASE(panic, "crashes (a panic in Rust)") { abort(); }

CASE_T(hang, "hangs without expect_timeout", "2") { sleep(60); }

ATF_TP_ADD_TCS(tp)
{
    ATF_TP_ADD_TC(tp, pass);
    ATF_TP_ADD_TC(tp, fail);
    ATF_TP_ADD_TC(tp, require);
    ATF_TP_ADD_TC(tp, checks);
    ATF_TP_ADD_TC(tp, skip);
    ATF_TP_ADD_TC(tp, xfail_fatal);
    ATF_TP_ADD_TC(tp, xfail_checks);
    ATF_TP_ADD_TC(tp, xfail_none);
    ATF_TP_ADD_TC(tp, xfail_pass);
    ATF_TP_ADD_TC(tp, xfail_skip);
    ATF_TP_ADD_TC(tp, xfail_abort);
    ATF_TP_ADD_TC(tp, check_then_pass);
    ATF_TP_ADD_TC(tp, check_then_xfail_fatal);
    ATF_TP_ADD_TC(tp, check_then_xfail_end);
    ATF_TP_ADD_TC(tp, exit_code);
    ATF_TP_ADD_TC(tp, exit_any);
    ATF_TP_ADD_TC(tp, signal_abrt);
    ATF_TP_ADD_TC(tp, signal_any);
    ATF_TP_ADD_TC(tp, death);
    ATF_TP_ADD_TC(tp, timeout_hangs);
    ATF_TP_ADD_TC(tp, exit_returns);
    ATF_TP_ADD_TC(tp, signal_returns);
    ATF_TP_ADD_TC(tp, death_returns);
    ATF_TP_ADD_TC(tp, timeout_returns);
    ATF_TP_ADD_TC(tp, exit_then_fail);
    ATF_TP_ADD_TC(tp, exit_then_pass);
    ATF_TP_ADD_TC(tp, death_then_skip);
    ATF_TP_ADD_TC(tp, xfail_twice);
    ATF_TP_ADD_TC(tp, xfail_then_pass_mode);
    ATF_TP_ADD_TC(tp, cleanup_cfg);
    ATF_TP_ADD_TC(tp, prog_abs);
    ATF_TP_ADD_TC(tp, prog_bare);
    ATF_TP_ADD_TC(tp, srcdir);
    ATF_TP_ADD_TC(tp, metadata);
    ATF_TP_ADD_TC(tp, empty_reason);
    ATF_TP_ADD_TC(tp, newline_reason);
    ATF_TP_ADD_TC(tp, panic);
    ATF_TP_ADD_TC(tp, hang);

    return atf_no_error();
}
