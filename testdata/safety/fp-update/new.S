
/* ksplice_test_safety_patched.o .text.ksplice_fp_target */
	.section .ksplice.text.ksplice_n0,"ax",%progbits
	.balign 16
	.globl ksplice_n0
	.type ksplice_n0, @function
ksplice_n0:
	.byte 0xe8,0x00,0x00,0x00,0x00,0x8d,0x47,0x02,0xe9,0x00,0x00,0x00,0x00
	.size ksplice_n0, .-ksplice_n0
	.type ksplice_fp_target.ksplice, @function
	.set ksplice_fp_target.ksplice, ksplice_n0
	.size ksplice_fp_target.ksplice, 13
	.reloc ksplice_n0+0x1, R_X86_64_PLT32, __fentry__-4
	.reloc ksplice_n0+0x9, R_X86_64_PLT32, __x86_return_thunk-4

/* ksplice_test_safety_patched.o .text.ksplice_fp_publish */
	.section .ksplice.text.ksplice_n1,"ax",%progbits
	.balign 16
	.globl ksplice_n1
	.type ksplice_n1, @function
ksplice_n1:
	.byte 0xe8,0x00,0x00,0x00,0x00,0x48,0xc7,0x05,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00
	.byte 0xc7,0x05,0x00,0x00,0x00,0x00,0x02,0x00,0x00,0x00,0xe9,0x00,0x00,0x00,0x00
	.size ksplice_n1, .-ksplice_n1
	.type ksplice_fp_publish.ksplice, @function
	.set ksplice_fp_publish.ksplice, ksplice_n1
	.size ksplice_fp_publish.ksplice, 31
	.reloc ksplice_n1+0x1, R_X86_64_PLT32, __fentry__-4
	.reloc ksplice_n1+0x1b, R_X86_64_PLT32, __x86_return_thunk-4
	.pushsection __mcount_loc,"a",%progbits
	.balign 8
	.quad ksplice_n0+0x0
	.popsection
	.pushsection __mcount_loc,"a",%progbits
	.balign 8
	.quad ksplice_n1+0x0
	.popsection
