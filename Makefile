# tresor -- build, test, run.
#
#   make            build/tresor (release flags, -O2 -g)
#   make test       install deps, build, unit tests (cmocka), end-to-end tests (pytest)
#   make asan       the same test suite against an ASan + UBSan build (build-asan/)
#   make valgrind   unit tests and end-to-end tests (every tresor process) under
#                   valgrind memcheck: no errors, no definite or indirect leaks
#                   (VALGRIND_SHARD=K/N: a Kth of the e2e files; CI runs one shard)
#   make wipecheck  the debug build that verifies every wipe (build-wipecheck/):
#                   its unit tests and tests/e2e/test_memory.py against it
#   make run        install deps, build, start `tresor serve` on ./tresor-data
#   make unit       unit tests only;  make e2e  end-to-end tests only
#   make e2e-tls    the KMS, Secrets Manager and STS end-to-end files with every
#                   server over TLS (TRESOR_E2E_TLS=1); part of make test
#   make e2e-pg     the whole end-to-end suite with every server's store in PostgreSQL
#                   (TRESOR_E2E_STORE=postgres), on a throwaway cluster it starts and
#                   stops (scripts/pg-test-cluster); make unit-pg: the store's unit
#                   tests against it (TRESOR_TEST_PG).  make test runs both when
#                   PostgreSQL 15's binaries are installed
#   make check-src  banned functions, style checks, the layer order of src/
#
#   make scan       clang's static analyzer over every source file and unit test
#                   (and tests/differential/diff_eval.c; build-scan/); any report fails it
#   make coverage   unit and end-to-end tests against a gcov build (build-coverage/):
#                   line and branch coverage, an HTML report in build-coverage/html/
#   make check-hardening  the release binary's hardening (PIE, RELRO, BIND_NOW, ...)
#
# CONF=asan selects the sanitizer build directory and flags; CONF=wipecheck
# the build whose release paths verify that secrets were wiped (-DTR_WIPE_CHECK,
# src/core/secmem.h).  Both, and the fuzzers, check invariants (-DTR_DEBUG:
# ALWAYS/NEVER of src/core/result.h abort when one fails).  The release build
# is hardened: _FORTIFY_SOURCE=3 (checked copies and formats where sizes are
# known), -fstack-protector-strong, a position-independent executable, and
# full RELRO (-z relro -z now: the GOT read-only once loaded).

CONF ?= release
ifeq ($(CONF),asan)
  BUILD := build-asan
  OPT := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  CONF_DEFS := -DTR_DEBUG
else ifeq ($(CONF),wipecheck)
  BUILD := build-wipecheck
  OPT := -O1 -g
  CONF_DEFS := -DTR_WIPE_CHECK -DTR_DEBUG
else ifeq ($(CONF),scan)
  BUILD := build-scan
  OPT := -O0 -g
  CONF_DEFS := -DTR_DEBUG
  UNIT_CFLAGS := -include tests/unit/scan_cmocka.h
else ifeq ($(CONF),coverage)
  BUILD := build-coverage
  OPT := -O0 -g --coverage -fprofile-update=atomic
  CONF_DEFS := -DTR_COVERAGE
else
  BUILD := build
  OPT := -O2 -g
  HARDEN := -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3 -fstack-protector-strong -fPIE
  HARDEN_LD := -pie -Wl,-z,relro,-z,now
endif

CC ?= cc
# libcurl (with OpenSSL, libcurl4-openssl-dev) fetches OIDC issuers' keys
# (oidc/remote.c); libssl for the SSL_CTX it hands over to add a private CA.
PKGS := libmicrohttpd gnutls jansson sqlite3 libcrypto libssl libcurl libargon2 libpq
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# p11-kit's <p11-kit/pkcs11.h> only: the PKCS#11 module is loaded with dlopen
# (crypto/pkcs11.c), nothing of p11-kit is linked.
PKG_CFLAGS += $(shell pkg-config --cflags p11-kit-1 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS := -std=c17 -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral \
          -D_GNU_SOURCE -Isrc -I$(BUILD)/gen $(OPT) $(HARDEN) $(CONF_DEFS) $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS := $(OPT) $(HARDEN_LD) $(EXTRA_LDFLAGS)
LDLIBS := $(PKG_LIBS) -lpthread -lm

SRCS := $(shell find src -name '*.c' | sort)
OBJS := $(SRCS:%.c=$(BUILD)/obj/%.o)
LIB_OBJS := $(filter-out $(BUILD)/obj/src/main.o,$(OBJS))
UNIT_SRCS := $(wildcard tests/unit/*_test.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
PYTHON := /usr/bin/python3

.PHONY: all test unit unit-bins e2e e2e-tls e2e-pg unit-pg asan valgrind valgrind-costs wipecheck run deps check-src clean bench bench-analyze bench-snapshot \
        fuzz scan coverage check-hardening
all: $(BUILD)/tresor

# V=1 shows the full commands.
Q := $(if $(V),,@)

$(BUILD)/tresor: $(OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# Unit tests find their data (tests/data/) by absolute path, whatever the
# current directory.
$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(UNIT_CFLAGS) -Itests/unit -DTR_TESTDATA_DIR='"$(CURDIR)/tests/data"' -o $@ $< $(LIB_OBJS) \
	  $(LDFLAGS) $(LDLIBS) -lcmocka

-include $(OBJS:.o=.d)

# The schema migrations: src/store/schema/NNN_*.sql are the one copy;
# scripts/schema-c writes them as the C string literals store/schema.c
# includes (generated into the build directory, never committed).
SCHEMA_SQL := $(sort $(wildcard src/store/schema/[0-9][0-9][0-9]_*.sql))
$(BUILD)/gen/store/schema_sql.inc build-fuzz/gen/store/schema_sql.inc: $(SCHEMA_SQL) scripts/schema-c
	@mkdir -p $(dir $@)
	@echo "  GEN     $@"
	$(Q)scripts/schema-c $@ $(SCHEMA_SQL)
$(BUILD)/obj/src/store/schema.o: $(BUILD)/gen/store/schema_sql.inc
build-fuzz/obj/src/store/schema.o: build-fuzz/gen/store/schema_sql.inc
# The PostgreSQL migrations, the same way (src/store/schema_pg/NNN_*.sql).
SCHEMA_PG_SQL := $(sort $(wildcard src/store/schema_pg/[0-9][0-9][0-9]_*.sql))
$(BUILD)/gen/store/schema_pg_sql.inc build-fuzz/gen/store/schema_pg_sql.inc: $(SCHEMA_PG_SQL) scripts/schema-c
	@mkdir -p $(dir $@)
	@echo "  GEN     $@"
	$(Q)scripts/schema-c $@ $(SCHEMA_PG_SQL)
$(BUILD)/obj/src/store/schema_pg.o: $(BUILD)/gen/store/schema_pg_sql.inc
build-fuzz/obj/src/store/schema_pg.o: build-fuzz/gen/store/schema_pg_sql.inc
# The snapshot collector (src/cli/snapshot_collect.py), compiled into the
# binary as one C string literal, the same way.
$(BUILD)/gen/cli/snapshot_collect_py.inc build-fuzz/gen/cli/snapshot_collect_py.inc: src/cli/snapshot_collect.py
	@mkdir -p $(dir $@)
	@echo "  GEN     $@"
	$(Q)sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' -e 's/^/    "/' -e 's/$$/\\n"/' $< > $@.tmp && mv $@.tmp $@
$(BUILD)/obj/src/cli/snapshot.o: $(BUILD)/gen/cli/snapshot_collect_py.inc
build-fuzz/obj/src/cli/snapshot.o: build-fuzz/gen/cli/snapshot_collect_py.inc
# The page of who-can-decrypt --format html (src/analyze/report_html.html),
# compiled in the same way.
$(BUILD)/gen/analyze/report_html.inc build-fuzz/gen/analyze/report_html.inc: src/analyze/report_html.html
	@mkdir -p $(dir $@)
	@echo "  GEN     $@"
	$(Q)sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' -e 's/^/    "/' -e 's/$$/\\n"/' $< > $@.tmp && mv $@.tmp $@
$(BUILD)/obj/src/analyze/report_html.o: $(BUILD)/gen/analyze/report_html.inc
build-fuzz/obj/src/analyze/report_html.o: build-fuzz/gen/analyze/report_html.inc
# The unit tests' own headers are not tracked; the one that reads the table is.
$(BUILD)/tests/authz_table_test: src/iam/authz_table.def

deps:
	@scripts/install-deps

unit: $(UNIT_BINS)
	@scripts/run-unit $(UNIT_BINS)

unit-bins: $(UNIT_BINS)

# tresor's side of the differential test (tests/differential/README.md).
$(BUILD)/tests/diff_eval: tests/differential/diff_eval.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(LIB_OBJS) $(LDFLAGS) $(LDLIBS)

# E2E_PATHS: what pytest collects (make valgrind's shards pass a file list).
# E2E_JOBS: pytest-xdist workers for the end-to-end runs (e2e, e2e-tls,
# e2e-pg, and so asan's and valgrind's); 1 runs them serially in one
# process.  Files are dealt whole to the workers (--dist loadfile: a
# module's servers stay on its worker); the tests that need the machine to
# themselves take a lock that keeps the other workers waiting
# (tests/e2e/conftest.py, QUIET_FILES).  Most tests wait more than they
# compute (server start-ups, fsync, subprocesses), so the default is one
# worker more than there are cores.
E2E_JOBS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
E2E_XDIST = $(if $(filter-out 0 1,$(E2E_JOBS)),-n $(E2E_JOBS) --dist loadfile,-p no:xdist)
E2E_PATHS ?= tests/e2e
e2e: $(BUILD)/tresor $(BUILD)/tests/diff_eval
	TRESOR_BIN=$(CURDIR)/$(BUILD)/tresor TRESOR_DIFF_EVAL=$(CURDIR)/$(BUILD)/tests/diff_eval \
	  $(PYTHON) -m pytest -q -p no:cacheprovider $(E2E_XDIST) $(E2E_PATHS) $(PYTEST_ARGS)

# The suites of the three data-plane services again with every server over
# TLS (tests/e2e/tresor_e2e.py, TRESOR_E2E_TLS): e2e-tls; make test runs it.
TLS_E2E_FILES ?= tests/e2e/test_kms_keys.py tests/e2e/test_kms_crypto.py tests/e2e/test_secrets.py \
                 tests/e2e/test_sts.py
e2e-tls: $(BUILD)/tresor
	TRESOR_E2E_TLS=1 TRESOR_BIN=$(CURDIR)/$(BUILD)/tresor \
	  $(PYTHON) -m pytest -q -p no:cacheprovider $(E2E_XDIST) $(TLS_E2E_FILES) $(PYTEST_ARGS)

# The same suites with the store in PostgreSQL: a throwaway cluster
# (scripts/pg-test-cluster) in a temporary directory, stopped and removed
# whatever the result.  PG_BIN: where initdb and pg_ctl are.
PG_BIN ?= /usr/lib/postgresql/15/bin
PG_RUN = dir=$$(mktemp -u /tmp/tresor-pg.XXXXXX); \
	url=$$(PG_BIN=$(PG_BIN) scripts/pg-test-cluster start $$dir) || exit 1; \
	trap 'PG_BIN=$(PG_BIN) scripts/pg-test-cluster stop '$$dir EXIT;
unit-pg: $(BUILD)/tests/store_test
	@$(PG_RUN) TRESOR_TEST_PG=$$url $(BUILD)/tests/store_test
e2e-pg: $(BUILD)/tresor $(BUILD)/tests/diff_eval
	@$(PG_RUN) TRESOR_E2E_STORE=postgres TRESOR_E2E_PG=$$url TRESOR_BIN=$(CURDIR)/$(BUILD)/tresor \
	  TRESOR_DIFF_EVAL=$(CURDIR)/$(BUILD)/tests/diff_eval \
	  $(PYTHON) -m pytest -q -p no:cacheprovider $(E2E_XDIST) tests/e2e $(PYTEST_ARGS)

test: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) e2e
	$(MAKE) e2e-tls
	if [ -x $(PG_BIN)/initdb ]; then $(MAKE) unit-pg && $(MAKE) e2e-pg; \
	else echo "make test: no PostgreSQL in $(PG_BIN): unit-pg and e2e-pg skipped"; fi

# The sanitizer run repeats the suite with fewer random rounds (the release
# run has the full counts): who-can-decrypt seeds and SIGKILL rounds.
ASAN_E2E_ENV ?= TRESOR_WHO_CAN_SEEDS=50 TRESOR_CRASH_ROUNDS=10

asan: deps
	$(MAKE) CONF=asan all
	$(MAKE) CONF=asan unit
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(ASAN_E2E_ENV) $(MAKE) CONF=asan e2e
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(MAKE) CONF=asan e2e-tls

# valgrind: the release build's unit tests and every tresor process the
# end-to-end tests start (servers and CLI subcommands) under memcheck, each
# with its own log (build/valgrind/ for the unit tests, the tests' log dirs
# under build/valgrind/e2e/ for e2e); any error or definite/indirect leak
# fails the run.  Suppressions: tests/valgrind.supp (third-party noise only,
# each one explained).
# The long loops, shortened under valgrind: test_who_can_random.py's seeds
# (200 natively; each is a who-can-decrypt --all run and hundreds of
# requests) and test_crash_safety.py's rounds (each restarts the server and
# runs tresor check, seconds apiece under valgrind).
# The strace fault-injection sweep kills the first start at every file call,
# restarting the server and tresor check hundreds of times, and the filling-
# disk rounds need the disk to fill within a round, which valgrind's pace
# does not guarantee: crash consistency, not memory; both stay in `make test`
# and `make asan`.  test_kms_asym.py generates RSA-3072 and RSA-4096 keys
# (1-3 s each natively, minutes under memcheck, past the clients' timeouts);
# its code paths are memory-checked by `make asan` (ASan + LSan) and
# pkey_test under valgrind.  test_kms_import.py likewise: every
# GetParametersForImport generates an RSA wrapping key pair (2048 to 4096
# bits), past the clients' timeouts under memcheck; kms_test covers its
# token code under valgrind and `make asan` the rest; so is
# test_kms_key_agreement's imported key (the file's other tests run).
# test_group_commit's
# count of syncs per write needs commits to arrive during a 30 ms sync; at
# memcheck's pace too few do (0.81 syncs per write measured, bound 0.75):
# a measure of grouping, not of memory, which the file's other tests check.
VALGRIND_DESELECT ?= --deselect tests/e2e/test_crash_safety.py::test_kill_at_each_file_call_of_first_start \
                     --deselect tests/e2e/test_group_commit.py::test_concurrent_writes_share_syncs \
                     --deselect tests/e2e/test_crash_safety.py::test_sigkill_on_a_filling_disk \
                     --deselect tests/e2e/test_kms_asym.py --deselect tests/e2e/test_kms_import.py \
                     --deselect tests/e2e/test_kms_key_agreement.py::test_imported_agreement_key
VALGRIND_E2E_ENV ?= TRESOR_WHO_CAN_SEEDS=3 TRESOR_CRASH_ROUNDS=3 TRESOR_CRASH_INIT_ROUNDS=2 \
                    TRESOR_CRASH_FULL_ROUNDS=2 TRESOR_SNAPSHOT_SEEDS=1
# VALGRIND_SHARD=K/N runs the unit tests and only the end-to-end files of
# shard K of N (0 <= K < N): scripts/valgrind-shard splits the files into N
# shards of equal cost by the tresor processes each starts and the tests it
# holds (tests/e2e/valgrind-costs; `make valgrind-costs` measures them again
# without valgrind, in the time of one e2e run).  The whole e2e suite under
# memcheck takes over half an hour on two cores, past CI's budget with
# everything else; .ci/run picks the shard from the commit's time, so
# consecutive commits cover every file, and `make valgrind` with no shard
# (run by hand before a release) covers all of them at once.
VALGRIND_SHARD ?=
# The unit binaries run E2E_JOBS at a time under memcheck (scripts/run-unit
# TRESOR_UNIT_JOBS), the slowest first so that none is left alone at the
# end: oidc_remote_net_test waits minutes on its stalled and slow test
# issuers.
VALGRIND_UNIT_SLOW ?= oidc_remote_net_test
VALGRIND_UNIT_FIRST = $(foreach n,$(VALGRIND_UNIT_SLOW),$(filter %/$(n),$(UNIT_BINS)))
VALGRIND_UNIT_ORDER = $(VALGRIND_UNIT_FIRST) $(filter-out $(VALGRIND_UNIT_FIRST),$(UNIT_BINS))
VALGRIND_E2E_PATHS = $(if $(VALGRIND_SHARD),$(shell scripts/valgrind-shard $(VALGRIND_SHARD)),tests/e2e)
VALGRIND := valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect \
            --errors-for-leak-kinds=definite,indirect --error-exitcode=97 --num-callers=40 \
            --suppressions=$(CURDIR)/tests/valgrind.supp

valgrind: deps
	@scripts/install-deps --valgrind
	$(MAKE) all
	$(MAKE) $(UNIT_BINS)
	@mkdir -p $(BUILD)/valgrind
	TRESOR_UNIT_WRAPPER="$(VALGRIND) --log-file=$(CURDIR)/$(BUILD)/valgrind/{name}.log" \
	  TRESOR_UNIT_JOBS=$(E2E_JOBS) scripts/run-unit $(VALGRIND_UNIT_ORDER)
	TRESOR_SERVER_WRAPPER="$(VALGRIND) --log-file={log}" $(VALGRIND_E2E_ENV) \
	  $(MAKE) e2e E2E_PATHS="$(VALGRIND_E2E_PATHS)" \
	  PYTEST_ARGS="--basetemp=$(CURDIR)/$(BUILD)/valgrind/e2e $(VALGRIND_DESELECT) $(PYTEST_ARGS)"

valgrind-costs: $(BUILD)/tresor $(BUILD)/tests/diff_eval
	TRESOR_DIFF_EVAL=$(CURDIR)/$(BUILD)/tests/diff_eval $(VALGRIND_E2E_ENV) \
	  $(PYTHON) scripts/valgrind-shard --measure $(BUILD)/tresor $(VALGRIND_DESELECT)

# wipecheck: every unit test in the wipe-check build (a region that should
# have been wiped aborts), then the memory tests against its server, which
# check that the wipe checks ran for GetSecretValue, Decrypt, GenerateDataKey
# and friends and that none failed.
wipecheck: deps
	$(MAKE) CONF=wipecheck all
	$(MAKE) CONF=wipecheck unit
	TRESOR_BIN=$(CURDIR)/build-wipecheck/tresor $(PYTHON) -m pytest -q -p no:cacheprovider \
	  tests/e2e/test_memory.py $(PYTEST_ARGS)

run:
	@scripts/install-deps --build
	$(MAKE) all
	./$(BUILD)/tresor serve $(ARGS)

check-src:
	@scripts/check-src

check-hardening: $(BUILD)/tresor
	@scripts/check-hardening $(BUILD)/tresor

# Benchmarks (bench/README.md): the release server and the SigV4 load
# generator, then bench/run (BENCH_ARGS: its options; default --scale 10000).
build/bench/loadgen: bench/loadgen.c $(filter-out build/obj/src/main.o,$(SRCS:%.c=build/obj/%.o))
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS) $(shell pkg-config --libs libssl)

bench:
	$(MAKE) CONF=release build/tresor build/bench/loadgen
	bench/run $(or $(BENCH_ARGS),--scale 10000)

# who-can-decrypt on one secret and with --all over 1,000 users, 1,000
# roles, 100 keys and 10,000 secrets (bench/who_can; BENCH_ARGS: its options).
bench-analyze:
	$(MAKE) CONF=release build/tresor
	bench/who_can $(BENCH_ARGS)

# who-can-decrypt --snapshot on one secret and with --all over a generated
# snapshot of 2,000 users, 5,000 roles, 500 keys and 20,000 secrets
# (bench/who_can_snapshot; BENCH_ARGS: its options).
bench-snapshot:
	$(MAKE) CONF=release build/tresor
	bench/who_can_snapshot $(BENCH_ARGS)

# libFuzzer targets (clang): fuzz/fuzz_<name>.c with seeds in fuzz/corpus/<name>/.
# `make fuzz` runs each for FUZZ_SECONDS (default 60); new inputs go to
# build-fuzz/corpus-<name>/, crashes to build-fuzz/.
FUZZ_SECONDS ?= 60
.SECONDARY:
FUZZ_SRCS := $(wildcard fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:fuzz/%.c=build-fuzz/%)
FUZZ_CFLAGS := -std=c17 -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
               -D_GNU_SOURCE -DTR_DEBUG -Isrc -Ibuild-fuzz/gen $(PKG_CFLAGS)
FUZZ_LIB_OBJS := $(filter-out build-fuzz/obj/src/main.o,$(SRCS:%.c=build-fuzz/obj/%.o))

build-fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CLANG   $<"
	$(Q)clang $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

build-fuzz/%: fuzz/%.c $(FUZZ_LIB_OBJS)
	@echo "  FUZZER  $@"
	$(Q)clang $(FUZZ_CFLAGS) -MMD -MP -MT $@ -MF $@.d -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJS) $(LDLIBS)

# Header dependencies, so a changed struct never links with stale objects.
-include $(FUZZ_LIB_OBJS:.o=.d) $(FUZZ_BINS:=.d)

fuzz: deps
	@scripts/install-deps --fuzz
	$(MAKE) $(FUZZ_BINS)
	@set -e; for b in $(FUZZ_BINS); do \
	  n=$${b#build-fuzz/fuzz_}; mkdir -p build-fuzz/corpus-$$n; \
	  d=; [ -f fuzz/$$n.dict ] && d=-dict=fuzz/$$n.dict; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	  $$b $$d -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=build-fuzz/$$n- \
	     build-fuzz/corpus-$$n fuzz/corpus/$$n 2>&1 | grep -E "^(stat::number_of_executed_units|stat::new_units_added|==|SUMMARY)|ERROR" || true; \
	  ls build-fuzz/$$n-crash-* build-fuzz/$$n-leak-* build-fuzz/$$n-timeout-* 2>/dev/null && exit 1 || true; \
	done

# scan: scan-build (clang's analyzer, Debian's clang-tools) over a fresh
# build of every source file, every unit test and the differential test's
# driver (tests/differential/diff_eval.c), with the invariants on
# (CONF=scan: -O0 -DTR_DEBUG, so ALWAYS/NEVER read as assertions); the
# reports go to build-scan/reports/ (scan-view opens them), and any report
# fails the target.  Each false positive is explained where the analyser
# stops: docs/internals/RESULT.md ("Failures the analyser can see").
SCAN_BUILD ?= scan-build
scan:
	@scripts/install-deps --scan
	rm -rf build-scan
	$(SCAN_BUILD) --status-bugs -o build-scan/reports $(MAKE) CONF=scan all unit-bins \
	  build-scan/tests/diff_eval

# coverage: a gcov build (CONF=coverage: -O0 --coverage, and -DTR_COVERAGE so
# ALWAYS/NEVER branches, which no test can take, are not counted), the unit
# tests and the end-to-end tests against it (every tresor process adds its
# counts when it exits; the long random loops shortened as under ASan), then
# lcov's line and branch summary of src/ and an HTML report in
# build-coverage/html/.  PYTEST_ARGS narrows the e2e run.
COVERAGE_E2E_ENV ?= $(ASAN_E2E_ENV)
LCOV := lcov --quiet --rc lcov_branch_coverage=1
coverage: deps
	@scripts/install-deps --coverage
	$(MAKE) CONF=coverage all unit-bins
	$(LCOV) --zerocounters --directory build-coverage
	$(MAKE) CONF=coverage unit
	$(COVERAGE_E2E_ENV) $(MAKE) CONF=coverage e2e
	$(LCOV) --capture --directory build-coverage/obj --base-directory $(CURDIR) \
	  --output-file build-coverage/all.info
	$(LCOV) --extract build-coverage/all.info '$(CURDIR)/src/*' --output-file build-coverage/coverage.info
	rm -rf build-coverage/html
	genhtml --quiet --branch-coverage --title tresor --output-directory build-coverage/html \
	  build-coverage/coverage.info
	@lcov --rc lcov_branch_coverage=1 --summary build-coverage/coverage.info 2>&1 | grep -E "lines|branches"
	@echo "coverage: build-coverage/html/index.html"

clean:
	rm -rf build build-asan build-fuzz build-wipecheck build-scan build-coverage
