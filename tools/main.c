/*
 * layertool: layers at rest.  Dispatches to one command per file.
 */
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "lf_common.h"
#include "user_mode.h"

static const char main_help[] =
	"usage: layertool COMMAND [OPTIONS] ARGS...\n"
	"\n"
	"Works on container image layers at rest.\n"
	"\n"
	"  import SOURCE IMAGE_DIR        import an OCI layout, OCI archive,\n"
	"                                 docker-archive or rootfs tarball\n"
	"  export UPPER_DIR OUT.tar       turn an upper directory into an OCI\n"
	"                                 layer tarball\n"
	"  export --image IMAGE_DIR --out NEW_IMAGE_DIR UPPER_DIR\n"
	"                                 append it to an image as a new image\n"
	"  convert --to dotwh|overlay LAYER_DIR\n"
	"                                 convert whiteouts in place\n"
	"  check LAYER...                 validate a layer stack, top first\n"
	"  diff UPPER LOWER...            what an upper layer changed\n"
	"  fsck --work WORKDIR [UPPER LOWER...]\n"
	"                                 check (--repair) a mount's work\n"
	"                                 directory while it is down\n"
	"  stats FILE                     show a layerfs stats file\n"
	"\n"
	"'layertool COMMAND --help' describes each command.\n"
	"\n"
	"Exit status: 0 success, 1 usage error, 2 unusable input (unreadable,\n"
	"malformed, hostile, failed verification), 3 output cannot be\n"
	"written, 4 check or fsck found warnings, 5 check found errors,\n"
	"130 interrupted.\n";

int main(int argc, char **argv)
{
	lf_set_progname("layertool");
	/* Member names in pax headers are UTF-8; a C locale would make
	 * libarchive refuse every non-ASCII one. */
	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		setlocale(LC_CTYPE, "");
	/* Modes of layer contents come from the archive or the layer,
	 * never from the umask; what is made for the user keeps it. */
	user_mode_init();
	if (argc < 2)
		return usage_error(NULL, "missing command");
	const char *cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") ||
	    !strcmp(cmd, "help")) {
		fputs(main_help, stdout);
		return LT_EXIT_OK;
	}
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
		printf("layertool %s\n", LF_VERSION);
		return LT_EXIT_OK;
	}
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "import", cmd_import },   { "export", cmd_export },
		{ "convert", cmd_convert }, { "check", cmd_check },
		{ "diff", cmd_diff },       { "fsck", cmd_fsck },
		{ "stats", cmd_stats },
	};
	/* getopt's own messages would name the command without the
	 * program ("import: unrecognized option"): usage_error says it. */
	opterr = 0;
	for (size_t i = 0; i < LF_ARRAY_SIZE(cmds); i++)
		if (!strcmp(cmd, cmds[i].name)) {
			usage_argv = argv + 1;
			return cmds[i].fn(argc - 1, argv + 1);
		}
	return usage_error(NULL, "unknown command '%s'", cmd);
}
