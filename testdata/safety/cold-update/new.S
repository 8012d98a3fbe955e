
/* ksplice_test_safety_patched.o .text.unlikely.ksplice_cold_func */
	.section .ksplice.text.ksplice_n0,"ax",%progbits
	.balign 1
	.globl ksplice_n0
	.type ksplice_n0, @function
ksplice_n0:
	.byte 0xe8,0x00,0x00,0x00,0x00,0xe9,0x00,0x00,0x00,0x00
	.size ksplice_n0, .-ksplice_n0
	.type ksplice_cold_func.ksplice.cold, @function
	.set ksplice_cold_func.ksplice.cold, ksplice_n0
	.size ksplice_cold_func.ksplice.cold, 10
	.reloc ksplice_n0+0x1, R_X86_64_PC32, ksplice_placeholder-4
	.reloc ksplice_n0+0x6, R_X86_64_PC32, ksplice_n1+15

/* ksplice_test_safety_patched.o .text.ksplice_cold_func */
	.section .ksplice.text.ksplice_n1,"ax",%progbits
	.balign 16
	.globl ksplice_n1
	.type ksplice_n1, @function
ksplice_n1:
	.byte 0xe8,0x00,0x00,0x00,0x00,0x8b,0x05,0x00,0x00,0x00,0x00,0x85,0xc0,0x0f,0x85,0x00
	.byte 0x00,0x00,0x00,0xb8,0x02,0x00,0x00,0x00,0xe9,0x00,0x00,0x00,0x00
	.size ksplice_n1, .-ksplice_n1
	.type ksplice_cold_func.ksplice, @function
	.set ksplice_cold_func.ksplice, ksplice_n1
	.size ksplice_cold_func.ksplice, 29
	.reloc ksplice_n1+0x1, R_X86_64_PLT32, __fentry__-4
	.reloc ksplice_n1+0xf, R_X86_64_PC32, ksplice_n0-4
	.reloc ksplice_n1+0x19, R_X86_64_PLT32, __x86_return_thunk-4
	.pushsection __mcount_loc,"a",%progbits
	.balign 8
	.quad ksplice_n1+0x0
	.popsection

	.section .ksplice.placeholder,"ax",%progbits
	.type ksplice_placeholder, @function
ksplice_placeholder:
	ud2
	.size ksplice_placeholder, .-ksplice_placeholder
