
/* ksplice_test_safety_patched.o .text.ksplice_jl_func */
	.section .ksplice.text.ksplice_n0,"ax",%progbits
	.balign 16
	.globl ksplice_n0
	.type ksplice_n0, @function
ksplice_n0:
	.byte 0xe8,0x00,0x00,0x00,0x00,0x66,0x90,0x8d,0x47,0x02,0xe9,0x00,0x00,0x00,0x00,0x8d
	.byte 0x47,0x64,0xe9,0x00,0x00,0x00,0x00
	.size ksplice_n0, .-ksplice_n0
	.type ksplice_jl_func.ksplice, @function
	.set ksplice_jl_func.ksplice, ksplice_n0
	.size ksplice_jl_func.ksplice, 23
	.reloc ksplice_n0+0x1, R_X86_64_PLT32, __fentry__-4
	.reloc ksplice_n0+0xb, R_X86_64_PLT32, __x86_return_thunk-4
	.reloc ksplice_n0+0x13, R_X86_64_PLT32, __x86_return_thunk-4
	.pushsection __mcount_loc,"a",%progbits
	.balign 8
	.quad ksplice_n0+0x0
	.popsection
	.pushsection __jump_table,"aw",%progbits
	.balign 8
.Lksplice_e1:
	.byte 0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00
	.popsection
	.reloc .Lksplice_e1+0x0, R_X86_64_PC32, ksplice_n0+5
	.reloc .Lksplice_e1+0x4, R_X86_64_PC32, ksplice_n0+15
	.reloc .Lksplice_e1+0x8, R_X86_64_PC64, ksplice_jump_placeholder+0 /* ksplice_test_key+2, bound by the engine */
