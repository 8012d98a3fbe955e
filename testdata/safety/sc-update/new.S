
/* ksplice_test_safety_patched.o .text.ksplice_sc_func */
	.section .ksplice.text.ksplice_n0,"ax",%progbits
	.balign 16
	.globl ksplice_n0
	.type ksplice_n0, @function
ksplice_n0:
	.byte 0xe8,0x00,0x00,0x00,0x00,0x8d,0x47,0x02,0xe9,0x00,0x00,0x00,0x00
	.size ksplice_n0, .-ksplice_n0
	.type ksplice_sc_func.ksplice, @function
	.set ksplice_sc_func.ksplice, ksplice_n0
	.size ksplice_sc_func.ksplice, 13
	.reloc ksplice_n0+0x1, R_X86_64_PLT32, __fentry__-4
	.reloc ksplice_n0+0x9, R_X86_64_PLT32, __x86_return_thunk-4
	.pushsection __mcount_loc,"a",%progbits
	.balign 8
	.quad ksplice_n0+0x0
	.popsection
