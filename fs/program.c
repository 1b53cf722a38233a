/* The layerfs program (layerfs_main.h). */
#include "layerfs_main.h"

int main(int argc, char **argv)
{
	return layerfs_main(argc, argv);
}
