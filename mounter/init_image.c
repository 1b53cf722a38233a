/*
 * The static init program (init/pid1.c), embedded as bytes: the build
 * passes its path as LR_INIT_PATH.
 */
#ifndef LR_INIT_PATH
#error "LR_INIT_PATH must name the built layerrun-init"
#endif

__asm__(".section .rodata\n"
	".balign 16\n"
	".globl lr_init_image\n"
	"lr_init_image:\n"
	".incbin \"" LR_INIT_PATH "\"\n"
	".globl lr_init_image_end\n"
	"lr_init_image_end:\n"
	".byte 0\n"
	".previous\n");
