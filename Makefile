# snapvm: see README.md.  `make` builds bin/ and the test guests,
# `make check` runs every test, `make bench` the benchmarks.

CC       ?= cc
# Where make install puts things (and DESTDIR, prepended to each, for a
# package's staging directory).
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
UNITDIR  ?= $(PREFIX)/lib/systemd/system
# A user's or a package build's own flags; the ones snapvm cannot do
# without are in SNAPVM_CFLAGS and stay whatever CFLAGS says.
CFLAGS   ?= -O2 -g
# WERROR=1 makes warnings errors: on for make check, off for a user's
# build (a newer compiler's new warnings must not stop it).  V=1 shows
# each command instead of its short form.
WERROR   ?= $(if $(filter check,$(MAKECMDGOALS)),1,0)
V        ?= 0
WARNINGS := -Wall -Wextra -Wmissing-prototypes -Wshadow
ifeq ($(WERROR),1)
WARNINGS += -Werror
endif
ifeq ($(V),1)
Q        :=
say      :=
else
Q        := @
say       = printf '  %-7s %s\n' $(1) $(2);
endif
SNAPVM_CFLAGS := -std=c11 -D_GNU_SOURCE -pthread $(WARNINGS)
# lib/'s folders from the bottom up: a file calls and includes only its
# own folder and those below it, and no files need each other (make
# layers, lib/README).
LAYERS   := base jail net snapfmt kvm dev vmm run s3 pager ctrl
# The libraries, their flags from pkg-config as a Debian build expects.
# Each program links only those its code needs (PROG_LIBS_NAME; a program
# without a line links them all): a runner's own memory is part of what
# every restore costs, and one more library mapped is more of it.  The
# tests and fuzz targets link them all, and OpenSSL's libcrypto besides:
# test_snap checks the manifests' SHA-256 against it, not nettle again.
LIBS     := json-c nettle yaml-0.1 libmicrohttpd libcurl libmnl libseccomp \
	    libsystemd
PROG_LIBS_vmrun       := json-c nettle libmnl libseccomp
PROG_LIBS_snaprestore := $(PROG_LIBS_vmrun)
PROG_LIBS_ctrl        := json-c nettle yaml-0.1 libmicrohttpd libsystemd
PROG_LIBS_s3snap      := json-c nettle yaml-0.1 libcurl
PROG_LIBS_snappager   := json-c nettle yaml-0.1 libcurl
PROG_LIBS_snapdump    := json-c
PROG_LIBS_tapnet      := libmnl
PROG_LIBS_vmjail      :=
LIBS_CFLAGS := $(shell pkg-config --cflags $(LIBS))
TEST_LDLIBS := $(shell pkg-config --libs $(LIBS) libcrypto)
# pkglibs NAME: the link flags of program NAME's libraries.
pkglibs   = $(if $(filter undefined,$(origin PROG_LIBS_$(1))),\
	    $(shell pkg-config --libs $(LIBS)),\
	    $(if $(PROG_LIBS_$(1)),$(shell pkg-config --libs $(PROG_LIBS_$(1)))))
CPPFLAGS += $(LAYERS:%=-Ilib/%) -Ibuild/gen -MMD -MP $(LIBS_CFLAGS)
LDFLAGS  += -pthread
# The version every program's --version prints: VERSION, and in a git
# checkout the commit (scripts/version).
VERSION  := $(shell scripts/version)

B        := build
PROGS    := $(notdir $(wildcard cmd/*))
LIB_SRC  := $(foreach l,$(LAYERS),$(wildcard lib/$(l)/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/%.o)
LIBA     := $(B)/libsnapvm.a
UNIT_SRC := $(wildcard t/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:t/unit/%.c=$(B)/unit/%)
APPS     := $(patsubst appfs/%/workload.py,%,$(wildcard appfs/*/workload.py))
APPFS    := $(APPS:%=$(B)/appfs/%.ext2)
# The guest's snapvm-netcfg (rootfs/mkrootfs), also built for the host:
# t/netcfg.bats runs it in network namespaces.
NETCFG_SRC := rootfs/init/netcfg.c rootfs/init/snapvm-netcfg.c lib/net/netaddr.c
NETCFG   := $(B)/netcfg/snapvm-netcfg

.SECONDARY:
.PHONY: all check bench install uninstall clean testguests tidy demo appfs kernel \
	rootfs guest snap fuzz fuzz-build fuzz-replay layers
# What a jailed process sees, for t/vmjail.bats; and a command under the
# unit's SystemCallFilter=, for t/ctrl.bats.
JAILPROBE := $(B)/t/jail/probe $(B)/t/jail/sysfilter
# A runner without a VM for t/snappager.bats: guest memory handed to a
# page server as snaprestore --page-server hands it.
PAGERCLIENT := $(B)/t/pagerclient
# The runners with the request loop's test hook (t/hooks/runner_hooks.c),
# for the tests of what a jailed runner can reach; never installed.
HOOKED   := $(B)/t/hooks/vmrun $(B)/t/hooks/snaprestore

all: $(PROGS:%=bin/%) testguests $(UNIT_BIN) appfs $(NETCFG) $(JAILPROBE) \
	$(HOOKED) $(PAGERCLIENT)

appfs: $(APPFS)

# What a host run of an app leaves (__pycache__) is not in the image, and
# remaking it would change the app drive that snapshots were made on.
.SECONDEXPANSION:
$(B)/appfs/%.ext2: $$(filter-out $$(wildcard appfs/$$*/__pycache__),$$(wildcard appfs/$$*/*)) \
    appfs/mkappfs
	appfs/mkappfs $(B)/appfs $*

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(Q)$(call say,CC,$@)$(CC) $(CPPFLAGS) $(SNAPVM_CFLAGS) $(CFLAGS) -c -o $@ $<

# Written only when the version changes, so that only version.o and the
# links follow.
$(B)/gen/gen_version.h: FORCE
	@mkdir -p $(@D)
	@printf '#define SNAPVM_VERSION "%s"\n' '$(VERSION)' > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
$(B)/lib/base/cli.o $(B)/fuzz/lib/base/cli.o: $(B)/gen/gen_version.h
.PHONY: FORCE
FORCE:

$(LIBA): $(LIB_OBJ)
	$(Q)rm -f $@
	$(Q)$(call say,AR,$@)$(AR) rcs $@ $^

# One rule per program: bin/NAME links cmd/NAME/*.c with lib/ and its
# libraries (PROG_LIBS_NAME, in PROG_LDLIBS_NAME).
define prog_rule
PROG_LDLIBS_$(1) := $(call pkglibs,$(1))
bin/$(1): $(patsubst %.c,$(B)/%.o,$(wildcard cmd/$(1)/*.c)) $(LIBA)
	@mkdir -p $$(@D)
	$$(Q)$$(call say,LINK,$$@)$$(CC) $$(LDFLAGS) -o $$@ $$(filter %.o,$$^) \
	    $(LIBA) $$(PROG_LDLIBS_$(1)) $$(LDLIBS)
endef
$(foreach p,$(PROGS),$(eval $(call prog_rule,$(p))))

$(B)/t/hooks/%: $(B)/cmd/%/main.o $(B)/t/hooks/runner_hooks.o $(LIBA)
	@mkdir -p $(@D)
	$(Q)$(call say,LINK,$@)$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIBA) \
	    $(PROG_LDLIBS_$*) $(LDLIBS)

$(B)/unit/%: $(B)/t/unit/%.o $(B)/t/unit/unit.o $(LIBA)
	@mkdir -p $(@D)
	$(Q)$(call say,LINK,$@)$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIBA) \
	    $(TEST_LDLIBS) $(LDLIBS)

# The device tests drive their device through one fake guest driver
# (t/unit/fakedrv.h); the others do without it, and without the device
# objects it would pull from the archive.
FAKEDRV_TESTS := test_virtio_blk test_vsock test_virtio_net
$(FAKEDRV_TESTS:%=$(B)/unit/%): $(B)/t/unit/fakedrv.o

$(NETCFG): $(NETCFG_SRC) rootfs/init/netcfg.h lib/net/netaddr.h
	@mkdir -p $(@D)
	$(Q)$(call say,CC,$@)$(CC) $(SNAPVM_CFLAGS) $(CFLAGS) -Ilib/net $(LDFLAGS) -o $@ $(NETCFG_SRC)

$(B)/t/jail/probe: t/jail/probe.c
	@mkdir -p $(@D)
	$(Q)$(call say,CC,$@)$(CC) $(SNAPVM_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $<

$(PAGERCLIENT): $(B)/t/pagerclient.o $(LIBA)
	@mkdir -p $(@D)
	$(Q)$(call say,LINK,$@)$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIBA) \
	    $(TEST_LDLIBS) $(LDLIBS)

$(B)/t/jail/sysfilter: t/jail/sysfilter.c
	@mkdir -p $(@D)
	$(Q)$(call say,CC,$@)$(CC) $(SNAPVM_CFLAGS) $(CFLAGS) $(LIBS_CFLAGS) \
	    $(LDFLAGS) -o $@ $< $(TEST_LDLIBS) $(LDLIBS)

testguests:
	$(MAKE) -C t/guest O=$(CURDIR)/$(B)/testguest

# The guest kernel and root filesystem; each script keeps a cache keyed by
# its inputs, so these are quick when nothing changed.
kernel:
	scripts/mkkernel $(B)/vmlinux

rootfs:
	rootfs/mkrootfs $(B)/rootfs.ext4

guest: kernel rootfs

# Language snapshot and one diff per app (scripts/mksnap): one cold boot,
# or nothing when build/snap was made from the same inputs.
# scripts/check makes it where the VM tests run (see there).
snap: all guest
	scripts/mksnap $(B)/snap

check: all guest fuzz-build
	scripts/check

layers: all
	scripts/layers $(B) $(LAYERS)

# libFuzzer targets (t/fuzz/*.c but the shared fuzz.c), with lib/ built
# again by clang with ASan and UBSan, under $(FZ).  `make fuzz` runs each
# for FUZZ_S seconds (FUZZ_TARGETS: a subset); `make fuzz-replay` runs
# each once over its committed corpus and crash reproducers, as
# `make check` does (scripts/fuzz).
FUZZ_CC  ?= clang
FUZZ_S   ?= 60
FZ       := $(B)/fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS := -O1 -g -fno-omit-frame-pointer -std=c11 -Wall -Wextra \
	$(filter -Werror,$(WARNINGS)) -D_GNU_SOURCE -pthread $(FUZZ_SAN)
FUZZ_SRC := $(filter-out t/fuzz/fuzz.c,$(wildcard t/fuzz/*.c))
FUZZ_BIN := $(FUZZ_SRC:t/fuzz/%.c=$(FZ)/bin/%)
FUZZ_LIBA := $(FZ)/libsnapvm.a

$(FZ)/%.o: %.c
	@mkdir -p $(@D)
	$(Q)$(call say,CC,$@)$(FUZZ_CC) $(CPPFLAGS) -It/fuzz $(FUZZ_CFLAGS) \
	    -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_LIBA): $(LIB_SRC:%.c=$(FZ)/%.o)
	$(Q)rm -f $@
	$(Q)$(call say,AR,$@)$(AR) rcs $@ $^

$(FZ)/bin/%: $(FZ)/t/fuzz/%.o $(FZ)/t/fuzz/fuzz.o $(FUZZ_LIBA)
	@mkdir -p $(@D)
	$(Q)$(call say,LINK,$@)$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -pthread -o $@ $^ \
	    $(TEST_LDLIBS) $(LDLIBS)

fuzz-build: $(FUZZ_BIN)

fuzz: fuzz-build
	FUZZ_S=$(FUZZ_S) scripts/fuzz run $(FUZZ_TARGETS)

fuzz-replay: fuzz-build
	scripts/fuzz replay $(FUZZ_TARGETS)

bench: all
	scripts/bench

tidy: $(B)/gen/gen_version.h
	clang-tidy --quiet $(LIB_SRC) $(wildcard cmd/*/*.c rootfs/init/*.c) -- \
	    $(CPPFLAGS) -std=c11 -D_GNU_SOURCE

# The programs, their pages and ctrl's unit, with the unit's paths those
# of BINDIR; nothing else (no test guest, test or image).
MAN1     := $(wildcard man/*.1)
MAN5     := $(wildcard man/*.5)
UNIT     := etc/snapvm-ctrl.service
install: $(PROGS:%=bin/%)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(UNITDIR)
	install -m 755 $(PROGS:%=bin/%) $(DESTDIR)$(BINDIR)
	install -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1
	install -m 644 $(MAN5) $(DESTDIR)$(MANDIR)/man5
	sed 's|/usr/local/bin/|$(BINDIR)/|g' $(UNIT) > $(B)/snapvm-ctrl.service
	install -m 644 $(B)/snapvm-ctrl.service etc/snapvm-ctrl.socket \
	    $(DESTDIR)$(UNITDIR)

uninstall:
	rm -f $(PROGS:%=$(DESTDIR)$(BINDIR)/%) \
	    $(MAN1:man/%=$(DESTDIR)$(MANDIR)/man1/%) \
	    $(MAN5:man/%=$(DESTDIR)$(MANDIR)/man5/%) \
	    $(DESTDIR)$(UNITDIR)/snapvm-ctrl.service \
	    $(DESTDIR)$(UNITDIR)/snapvm-ctrl.socket

clean:
	rm -rf bin $(B)/lib $(B)/cmd $(B)/t $(B)/unit $(B)/testguest $(B)/appfs \
	    $(B)/netcfg $(LIBA) $(FZ)

-include $(shell find $(B)/lib $(B)/cmd $(B)/t $(FZ) -name '*.d' 2>/dev/null)

# The embedded default job: the bundled hello guest in a VM.
demo: all guest
	scripts/demo
