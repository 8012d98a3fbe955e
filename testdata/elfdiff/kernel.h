/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Just enough of the kernel's headers for the elfdiff test objects: the
 * section attributes and the shapes of the special-section entries the
 * kernel's macros emit (WARN/BUG, exception tables, jump labels,
 * alternatives, static calls, ORC, ...). The entries are written with the
 * same pushsection blocks as the kernel's macros; elfdiff must derive their
 * sizes from the objects, not from this file.
 */
#ifndef KSPLICE_TEST_KERNEL_H
#define KSPLICE_TEST_KERNEL_H

#define __section(s)	__attribute__((__section__(s)))
#define __init		__section(".init.text") __attribute__((__cold__))
#define __exit		__section(".exit.text") __attribute__((__cold__))
#define __initdata	__section(".init.data")
#define __read_mostly	__section(".data..read_mostly")
#define __once_data	__section(".data.once")
#define noinline	__attribute__((__noinline__))
#define notrace		__attribute__((__no_instrument_function__))
#define __cold		__attribute__((__cold__))
#define __noreturn	__attribute__((__noreturn__))
#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)
#define barrier()	asm volatile("" : : : "memory")
#define __stringify_1(x) #x
#define __stringify(x)	__stringify_1(x)
#define NULL		((void *)0)

typedef unsigned long size_t;
typedef _Bool bool;
#define true 1
#define false 0

extern int _printk(const char *fmt, ...);
#define pr_info(fmt, ...) _printk("\0016" fmt, ##__VA_ARGS__)
#define pr_err(fmt, ...) _printk("\0013" fmt, ##__VA_ARGS__)

extern void __might_sleep(const char *file, int line);
#define might_sleep() __might_sleep(__FILE__, __LINE__)

extern void __noreturn panic(const char *fmt, ...);

/*
 * Subsystems' own error helpers take __func__ or __FILE__ and __LINE__
 * (fs/ext4: __ext4_error(sb, __func__, __LINE__, ...); btrfs:
 * __btrfs_handle_fs_error(fs_info, __func__, __LINE__, ...); xfs:
 * asswarn(mp, expr, __FILE__, __LINE__)).
 */
struct super_block;
extern void __fs_error(struct super_block *sb, const char *function,
		       unsigned int line, int err, const char *fmt, ...);
#define fs_error(sb, err, fmt, ...) \
	__fs_error(sb, __func__, __LINE__, err, fmt, ##__VA_ARGS__)
extern void fs_asswarn(struct super_block *sb, const char *expr,
		       const char *file, int line);
#define FS_ASSERT(sb, expr) \
	(void)(likely(expr) || (fs_asswarn(sb, #expr, __FILE__, __LINE__), 0))

#ifdef __x86_64__
#define BUG_INSN	"ud2"
#define NOP_INSN	".byte 0x0f,0x1f,0x44,0x00,0x00"
#define ASM_PTR		".quad"
#else
#define BUG_INSN	"brk 0x800"
#define NOP_INSN	"nop"
#define ASM_PTR		".quad"
#endif

/* struct bug_entry with relative pointers and BUGVERBOSE: addr, file, line, flags. */
#define BUGFLAG_WARNING	(1 << 0)
#define __BUG_FLAGS(flags)						\
	asm volatile("1:\t" BUG_INSN "\n"				\
		".pushsection .rodata.str1.1,\"aMS\",@progbits,1\n"	\
		"3:\t.string \"" __FILE__ "\"\n"			\
		".popsection\n"						\
		".pushsection __bug_table,\"aw\"\n"			\
		"2:\t.long 1b - .\n"					\
		"\t.long 3b - .\n"					\
		"\t.short " __stringify(__LINE__) "\n"			\
		"\t.short " __stringify(flags) "\n"			\
		".popsection" : : : "memory")

#define WARN_ON(condition) ({						\
	int __ret_warn_on = !!(condition);				\
	if (unlikely(__ret_warn_on))					\
		__BUG_FLAGS(BUGFLAG_WARNING);				\
	unlikely(__ret_warn_on);					\
})

/* WARN_ONCE: a once-flag per call site, all named __warned. */
#define WARN_ONCE(condition, fmt, ...) ({				\
	static bool __warned __once_data;				\
	int __ret_warn_once = !!(condition);				\
	if (unlikely(__ret_warn_once && !__warned)) {			\
		__warned = true;					\
		pr_err(fmt, ##__VA_ARGS__);				\
	}								\
	unlikely(__ret_warn_once);					\
})

#define BUG() do { __BUG_FLAGS(0); __builtin_unreachable(); } while (0)

/* Exception table entry: insn, fixup, data (x86 and arm64 shapes). */
#ifdef __x86_64__
static inline int get_user_int(int *dst, const int *src)
{
	int err = 0;

	asm volatile("1:\tmovl (%2), %1\n"
		     "2:\n"
		     ".pushsection __ex_table,\"a\"\n"
		     "\t.balign 4\n"
		     "\t.long 1b - .\n"
		     "\t.long 2b - .\n"
		     "\t.long 3\n"
		     ".popsection"
		     : "+r"(err), "=r"(*dst) : "r"(src));
	return err;
}
#else
static inline int get_user_int(int *dst, const int *src)
{
	int err = 0;

	asm volatile("1:\tldr %w1, [%2]\n"
		     "2:\n"
		     ".pushsection __ex_table,\"a\"\n"
		     "\t.balign 4\n"
		     "\t.long 1b - .\n"
		     "\t.long 2b - .\n"
		     "\t.short 3\n"
		     "\t.short 0\n"
		     ".popsection"
		     : "+r"(err), "=r"(*dst) : "r"(src));
	return err;
}
#endif

/*
 * Exception tables of older kernels (before 5.17 on x86, 5.16 on arm64):
 * struct exception_table_entry { int insn, fixup; }, where fixup points to
 * code in .fixup that sets the error and jumps back. ZERO also clears the
 * destination, as the fixups of get_user() did.
 */
#ifdef __x86_64__
#define __get_user_old(dst, src, err, zero)				\
	asm volatile("1:\tmovl (%2), %1\n"				\
		     "2:\n"						\
		     ".section .fixup,\"ax\"\n"			\
		     "3:\tmovl $" __stringify(err) ", %0\n"		\
		     zero						\
		     "\tjmp 2b\n"					\
		     ".previous\n"					\
		     ".pushsection __ex_table,\"a\"\n"		\
		     "\t.balign 4\n"					\
		     "\t.long 1b - .\n"				\
		     "\t.long 3b - .\n"				\
		     ".popsection"					\
		     : "+r"(__err), "=r"(dst) : "r"(src))
#define FIXUP_ZERO	"\txorl %1, %1\n"
#else
#define __get_user_old(dst, src, err, zero)				\
	asm volatile("1:\tldr %w1, [%2]\n"				\
		     "2:\n"						\
		     ".section .fixup,\"ax\"\n"			\
		     "\t.align 2\n"					\
		     "3:\tmov %w0, #" __stringify(err) "\n"		\
		     zero						\
		     "\tb 2b\n"					\
		     ".previous\n"					\
		     ".pushsection __ex_table,\"a\"\n"		\
		     "\t.align 3\n"					\
		     "\t.long (1b - .), (3b - .)\n"			\
		     ".popsection"					\
		     : "+r"(__err), "=r"(dst) : "r"(src))
#define FIXUP_ZERO	"\tmov %w1, #0\n"
#endif
#define get_user_old(dst, src) ({					\
	int __err = 0;							\
	__get_user_old(dst, src, -14, "");				\
	__err;								\
})
#define get_user_old_zero(dst, src) ({					\
	int __err = 0;							\
	__get_user_old(dst, src, -14, FIXUP_ZERO);			\
	__err;								\
})

/* Jump labels: struct jump_entry { s32 code; s32 target; long key; }. */
struct static_key { int enabled; };
static inline __attribute__((always_inline)) bool static_key_false(struct static_key *key)
{
	asm goto("1:\t" NOP_INSN "\n"
		 ".pushsection __jump_table,\"aw\"\n"
		 "\t.balign 8\n"
		 "\t.long 1b - .\n"
		 "\t.long %l[l_yes] - .\n"
		 "\t.quad %c0 - .\n"
		 ".popsection"
		 : : "i"(key) : : l_yes);
	return false;
l_yes:
	return true;
}

/*
 * Dynamic debug (CONFIG_DYNAMIC_DEBUG with CONFIG_JUMP_LABEL, as Debian
 * builds): pr_debug() defines a struct _ddebug descriptor named
 * __UNIQUE_ID_ddebugN in section __dyndbg and guards the call with a jump
 * label on the descriptor's own key.
 */
#define KBUILD_MODNAME	"elfdiff"
#define ___PASTE(a, b)	a##b
#define __PASTE(a, b)	___PASTE(a, b)
#define __UNIQUE_ID(prefix) __PASTE(__PASTE(__UNIQUE_ID_, prefix), __COUNTER__)
struct static_key_false { struct static_key key; unsigned long type; };
struct _ddebug {
	const char *modname;
	const char *function;
	const char *filename;
	const char *format;
	unsigned int lineno:18;
	unsigned int class_id:6;
	unsigned int flags:8;
	struct static_key_false key;
} __attribute__((aligned(8)));
extern void __dynamic_pr_debug(struct _ddebug *descriptor, const char *fmt, ...);
#define DEFINE_DYNAMIC_DEBUG_METADATA(name, fmt)			\
	static struct _ddebug __attribute__((aligned(8)))		\
	__section("__dyndbg") name = {					\
		.modname = KBUILD_MODNAME, .function = __func__,	\
		.filename = __FILE__, .format = (fmt),			\
		.lineno = __LINE__, .class_id = 63, .flags = 0,		\
	}
#define __dynamic_func_call(id, fmt, func, ...) do {			\
	DEFINE_DYNAMIC_DEBUG_METADATA(id, fmt);				\
	if (static_key_false(&id.key.key))				\
		func(&id, ##__VA_ARGS__);				\
} while (0)
#define pr_debug(fmt, ...)						\
	__dynamic_func_call(__UNIQUE_ID(ddebug), fmt, __dynamic_pr_debug, fmt, ##__VA_ARGS__)

/* Dynamic debug class maps (DECLARE_DYNDBG_CLASSMAP, 6.1+): used by drm. */
struct list_head { struct list_head *next, *prev; };
struct ddebug_class_map {
	struct list_head link;
	void *mod;
	const char *mod_name;
	const char **class_names;
	const int length;
	const int base;
	int map_type;
};
#define DECLARE_DYNDBG_CLASSMAP(_var, _maptype, _base, ...)		\
	static const char *_var##_classnames[] = { __VA_ARGS__ };	\
	static struct ddebug_class_map __attribute__((aligned(8), used)) \
	__section("__dyndbg_classes") _var = {				\
		.mod_name = KBUILD_MODNAME, .base = _base,		\
		.map_type = _maptype,					\
		.length = sizeof(_var##_classnames) / sizeof(char *),	\
		.class_names = _var##_classnames,			\
	}

/* Alternatives: struct alt_instr { s32 instr; s32 repl; u16 cpuid; u8 instrlen; u8 replacementlen; }. */
#ifdef __x86_64__
#define ALT_OLD		"lfence"
#define ALT_NEW		"mfence"
#else
#define ALT_OLD		"nop"
#define ALT_NEW		"dmb ish"
#endif
#define alternative_barrier()						\
	asm volatile("661:\n\t" ALT_OLD "\n662:\n"			\
		".pushsection .altinstructions,\"a\"\n"			\
		"\t.long 661b - .\n"					\
		"\t.long 6641f - .\n"					\
		"\t.short 42\n"						\
		"\t.byte 662b - 661b\n"					\
		"\t.byte 6651f - 6641f\n"				\
		".popsection\n"						\
		".pushsection .altinstr_replacement,\"ax\"\n"		\
		"6641:\n\t" ALT_NEW "\n6651:\n"				\
		".popsection" : : : "memory")

/* An alternative with the given original and replacement instructions. */
#define alternative_insn(oldinstr, newinstr)				\
	asm volatile("661:\n\t" oldinstr "\n662:\n"			\
		".pushsection .altinstructions,\"a\"\n"			\
		"\t.long 661b - .\n"					\
		"\t.long 6641f - .\n"					\
		"\t.short 43\n"						\
		"\t.byte 662b - 661b\n"					\
		"\t.byte 6651f - 6641f\n"				\
		".popsection\n"						\
		".pushsection .altinstr_replacement,\"ax\"\n"		\
		"6641:\n\t" newinstr "\n6651:\n"				\
		".popsection" : : : "memory")

/* Static calls: struct static_call_site { s32 addr; s32 key; }. */
struct static_call_key { void *func; };
#define static_call_site_mark(key)					\
	asm volatile("1:\n"						\
		".pushsection .static_call_sites,\"a\"\n"		\
		"\t.long 1b - .\n"					\
		"\t.long %c0 - .\n"					\
		".popsection" : : "i"(key))

/* Objtool-style site lists: one s32 per site. */
#define site_mark(sec)							\
	asm volatile("1:\n"						\
		".pushsection " sec ",\"a\"\n"				\
		"\t.long 1b - .\n"					\
		".popsection")

/* ORC: .orc_unwind_ip (s32 per entry) parallel to .orc_unwind (6 bytes per entry). */
#define orc_mark()							\
	asm volatile("1:\n"						\
		".pushsection .orc_unwind_ip,\"a\"\n"			\
		"\t.long 1b - .\n"					\
		".popsection\n"						\
		".pushsection .orc_unwind,\"a\"\n"			\
		"\t.short 16, 0, 5\n"					\
		".popsection")

/* Lock prefixes: .smp_locks holds s32 pointers to lock prefixes (x86). */
#ifdef __x86_64__
static inline void atomic_inc(int *v)
{
	asm volatile(".pushsection .smp_locks,\"a\"\n"
		     "\t.balign 4\n"
		     "\t.long 671f - .\n"
		     ".popsection\n"
		     "671:\n\tlock incl %0" : "+m"(*v));
}
#else
static inline void atomic_inc(int *v)
{
	__atomic_add_fetch(v, 1, __ATOMIC_RELAXED);
}
#endif


/* Paravirt patch sites (x86): struct paravirt_patch_site { u8 *instr; u8 type; u8 len; }. */
#ifdef __x86_64__
#define paravirt_mark()							\
	asm volatile("771:\n\tpushfq\n\tpopq %%rax\n772:\n"		\
		".pushsection .parainstructions,\"a\"\n"		\
		"\t.balign 8\n"						\
		"\t.quad 771b\n"						\
		"\t.byte 3\n"						\
		"\t.byte 772b - 771b\n"					\
		".popsection" : : : "rax", "memory")
#else
#define paravirt_mark() barrier()
#endif

/* The printk index (CONFIG_PRINTK_INDEX): a pointer per printk to its record. */
struct pi_entry {
	const char *fmt;
	const char *func;
	const char *file;
	unsigned int line;
	const char *level;
	const char *subsys_fmt_prefix;
};
#define pr_info_indexed(_fmt, ...) ({					\
	static const struct pi_entry _entry = {				\
		.fmt = _fmt, .func = __func__, .file = __FILE__,		\
		.line = __LINE__, .level = "6",				\
	};								\
	static const struct pi_entry *_entry_ptr			\
		__attribute__((__used__)) __section(".printk_index") = &_entry; \
	_printk("\0016" _fmt, ##__VA_ARGS__);				\
})

/*
 * EXPORT_SYMBOL as 6.1 emits it (include/linux/export.h): the name in
 * __ksymtab_strings, and a struct kernel_symbol of three relative offsets
 * in a section of its own, ___ksymtab+NAME.
 */
#define EXPORT_SYMBOL(sym)						\
	asm("	.section \"__ksymtab_strings\",\"aMS\",%progbits,1\n"	\
	    "__kstrtab_" #sym ":	.asciz \"" #sym "\"\n"			\
	    "__kstrtabns_" #sym ":	.asciz \"\"\n"				\
	    "	.previous\n"						\
	    "	.section \"___ksymtab+" #sym "\", \"a\"\n"		\
	    "	.balign 4\n"						\
	    "__ksymtab_" #sym ":\n"					\
	    "	.long " #sym " - .\n"					\
	    "	.long __kstrtab_" #sym " - .\n"			\
	    "	.long __kstrtabns_" #sym " - .\n"			\
	    "	.previous\n")

#endif /* KSPLICE_TEST_KERNEL_H */
