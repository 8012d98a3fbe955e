// SPDX-License-Identifier: GPL-2.0
/*
 * ksplice_sysfs.c - /sys/kernel/ksplice/<id>/, the control interface.
 *
 * Root only: the files are 0600/0400, and every write also needs
 * CAP_SYS_MODULE, the capability that loading the update took, so that a
 * file descriptor opened by root and handed to a less privileged process
 * (or a root without the capability, in a container) cannot apply or
 * reverse code. Writing "apply" or "reverse" to stage does it and returns
 * when it is done: the write fails with the errno of the reason, which
 * abort_cause names and abort_message explains. See
 * docs/kernel-interface.md.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/kobject.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include "ksplice_internal.h"

static struct kobject *ksplice_root;

/*
 * The empty stop_machine round of /sys/kernel/ksplice/stop_machine_empty_ns
 * stops every CPU on demand: a benchmark, not something a production
 * machine should offer. The file exists only when the engine is loaded
 * with bench=1 (make bench does).
 */
static bool bench;
module_param(bench, bool, 0400);
MODULE_PARM_DESC(bench, "offer stop_machine_empty_ns, an empty stop_machine round on demand (benchmarks)");

static bool pause_profile;
module_param(pause_profile, bool, 0400);
MODULE_PARM_DESC(pause_profile, "time the parts of each stop_machine round, in pause_profile (benchmarks; lengthens the pause)");
DEFINE_STATIC_KEY_FALSE(ksplice_pause_profile_key);

struct ksplice_attr {
	struct attribute attr;
	ssize_t (*show)(struct ksplice_state *st, char *buf);
	ssize_t (*store)(struct ksplice_state *st, const char *buf,
			 size_t count);
};

#define to_state(k) container_of(k, struct ksplice_state, kobj)
#define to_attr(a) container_of(a, struct ksplice_attr, attr)

static ssize_t ksplice_attr_show(struct kobject *kobj, struct attribute *attr,
				 char *buf)
{
	struct ksplice_state *st = to_state(kobj);
	ssize_t ret;

	mutex_lock(&ksplice_mutex);
	ret = to_attr(attr)->show(st, buf);
	mutex_unlock(&ksplice_mutex);
	return ret;
}

static ssize_t ksplice_attr_store(struct kobject *kobj, struct attribute *attr,
				  const char *buf, size_t count)
{
	struct ksplice_state *st = to_state(kobj);
	struct ksplice_attr *a = to_attr(attr);
	ssize_t ret;

	if (!a->store)
		return -EIO;
	if (!capable(CAP_SYS_MODULE))
		return -EPERM;
	mutex_lock(&ksplice_mutex);
	ret = st->dead ? -ENODEV : a->store(st, buf, count);
	mutex_unlock(&ksplice_mutex);
	return ret;
}

static const struct sysfs_ops ksplice_sysfs_ops = {
	.show = ksplice_attr_show,
	.store = ksplice_attr_store,
};

static ssize_t stage_show(struct ksplice_state *st, char *buf)
{
	return sysfs_emit(buf, "%s\n", ksplice_stage_name(st->stage));
}

static ssize_t stage_store(struct ksplice_state *st, const char *buf,
			   size_t count)
{
	int ret;

	if (sysfs_streq(buf, "apply"))
		ret = ksplice_apply(st);
	else if (sysfs_streq(buf, "reverse"))
		ret = ksplice_reverse(st);
	else
		return -EINVAL;
	return ret ? ret : count;
}

static ssize_t abort_cause_show(struct ksplice_state *st, char *buf)
{
	return sysfs_emit(buf, "%s\n", ksplice_reason_name(st->reason));
}

static ssize_t abort_message_show(struct ksplice_state *st, char *buf)
{
	if (!st->message[0])
		return 0;
	return sysfs_emit(buf, "%s\n", st->message);
}

static ssize_t conflicts_show(struct ksplice_state *st, char *buf)
{
	unsigned int i;
	int len = 0;

	for (i = 0; i < st->nr_conflicts; i++) {
		struct ksplice_conflict *c = &st->conflicts[i];

		if (c->unreliable)
			len += sysfs_emit_at(buf, len, "%d %s unreliable\n",
					     c->pid, c->comm);
		else
			len += sysfs_emit_at(buf, len, "%d %s %s%s+0x%lx\n",
					     c->pid, c->comm, c->func, c->part,
					     c->offset);
	}
	return len;
}

static ssize_t functions_show(struct ksplice_state *st, char *buf)
{
	unsigned int i;
	int len = 0;

	for (i = 0; i < st->u->nr_funcs; i++) {
		struct ksplice_func_state *fs = &st->funcs[i];

		len += sysfs_emit_at(buf, len, "%s 0x%lx 0x%lx\n",
				     fs->f->name,
				     st->stage == KSPLICE_STAGE_APPLIED ?
				     fs->addr : 0,
				     (unsigned long)fs->f->new_func);
	}
	return len;
}

static ssize_t description_show(struct ksplice_state *st, char *buf)
{
	return sysfs_emit(buf, "%s\n", st->u->description ?: "");
}

static ssize_t target_show(struct ksplice_state *st, char *buf)
{
	return sysfs_emit(buf, "%s\n", st->u->target);
}

static ssize_t stop_machine_ns_show(struct ksplice_state *st, char *buf)
{
	return sysfs_emit(buf, "%llu\n", st->stop_ns);
}

static ssize_t stop_machine_total_ns_show(struct ksplice_state *st, char *buf)
{
	return sysfs_emit(buf, "%llu\n", st->stop_total_ns);
}

static ssize_t attempts_show(struct ksplice_state *st, char *buf)
{
	return sysfs_emit(buf, "%u\n", st->attempts);
}

/*
 * How the last round's pause checked stacks: the tasks of the switch log,
 * or every task and why (ksplice_stack.c).
 */
static ssize_t stack_check_show(struct ksplice_state *st, char *buf)
{
	const struct ksplice_pause_stats *ps = &st->pause;

	return sysfs_emit(buf, "%s %u %u %u %u%s%s\n",
			  ps->walk ? "walk" : "log", ps->checked,
			  ps->prescan_clean, ps->prescan_again,
			  ps->prescan_busy, ps->walk ? " " : "",
			  ps->walk ?: "");
}

/*
 * Where the last round's stop_machine callback spent its time, in ns, and
 * how many stacks it scanned and walked (pause_profile=1 only; zeros
 * otherwise).
 */
static ssize_t pause_profile_show(struct ksplice_state *st, char *buf)
{
	const struct ksplice_pause_profile *p = &st->prof;

	return sysfs_emit(buf, "gap %llu again %llu log %llu idle %llu scan %llu unwind %llu text_check %llu switch %llu write %llu logged %u scanned %u unwound %u\n",
			  p->gap, p->again, p->log, p->idle, p->scan,
			  p->unwind, p->text_check, p->sw, p->write,
			  p->logged, p->scanned, p->unwound);
}

/*
 * "1" once a reverse kept the update module loaded (the tables'
 * KSPLICE_UPDATE_KEEP_MODULE): it can no longer be unloaded.
 */
static ssize_t kept_show(struct ksplice_state *st, char *buf)
{
	return sysfs_emit(buf, "%d\n", st->kept);
}

static ssize_t flags_show(struct ksplice_state *st, char *buf)
{
	return sysfs_emit(buf, "0x%x\n", st->u->flags);
}

static ssize_t format_version_show(struct ksplice_state *st, char *buf)
{
	return sysfs_emit(buf, "%u\n", st->u->format_version);
}

#define KSPLICE_ATTR_RO(_name) \
	static struct ksplice_attr ksplice_attr_##_name = \
		__ATTR(_name, 0400, _name##_show, NULL)

static struct ksplice_attr ksplice_attr_stage =
	__ATTR(stage, 0600, stage_show, stage_store);
KSPLICE_ATTR_RO(abort_cause);
KSPLICE_ATTR_RO(abort_message);
KSPLICE_ATTR_RO(conflicts);
KSPLICE_ATTR_RO(functions);
KSPLICE_ATTR_RO(description);
KSPLICE_ATTR_RO(target);
KSPLICE_ATTR_RO(stop_machine_ns);
KSPLICE_ATTR_RO(stop_machine_total_ns);
KSPLICE_ATTR_RO(attempts);
KSPLICE_ATTR_RO(stack_check);
KSPLICE_ATTR_RO(pause_profile);
KSPLICE_ATTR_RO(format_version);
KSPLICE_ATTR_RO(kept);
KSPLICE_ATTR_RO(flags);

static struct attribute *ksplice_attrs[] = {
	&ksplice_attr_stage.attr,
	&ksplice_attr_abort_cause.attr,
	&ksplice_attr_abort_message.attr,
	&ksplice_attr_conflicts.attr,
	&ksplice_attr_functions.attr,
	&ksplice_attr_description.attr,
	&ksplice_attr_target.attr,
	&ksplice_attr_stop_machine_ns.attr,
	&ksplice_attr_stop_machine_total_ns.attr,
	&ksplice_attr_attempts.attr,
	&ksplice_attr_stack_check.attr,
	&ksplice_attr_pause_profile.attr,
	&ksplice_attr_format_version.attr,
	&ksplice_attr_kept.attr,
	&ksplice_attr_flags.attr,
	NULL,
};
ATTRIBUTE_GROUPS(ksplice);

static void ksplice_kobj_release(struct kobject *kobj)
{
	ksplice_state_release(to_state(kobj));
}

static struct kobj_type ksplice_ktype = {
	.sysfs_ops = &ksplice_sysfs_ops,
	.release = ksplice_kobj_release,
	.default_groups = ksplice_groups,
};

/*
 * Creates /sys/kernel/ksplice/<id>. From here on @st belongs to its kobject:
 * even on failure the caller frees it with kobject_put() (as
 * kobject_init_and_add() requires), once nothing else points to it.
 */
int ksplice_sysfs_add(struct ksplice_state *st)
{
	return kobject_init_and_add(&st->kobj, &ksplice_ktype, ksplice_root,
				    "%s", st->u->id);
}

/* Last empty round; protected by ksplice_mutex. */
static u64 ksplice_empty_ns;

static ssize_t stop_machine_empty_ns_show(struct kobject *kobj,
					  struct kobj_attribute *attr,
					  char *buf)
{
	u64 ns;

	mutex_lock(&ksplice_mutex);
	ns = ksplice_empty_ns;
	mutex_unlock(&ksplice_mutex);
	return sysfs_emit(buf, "%llu\n", ns);
}

/* Writing anything runs one empty stop_machine round (a benchmark). */
static ssize_t stop_machine_empty_ns_store(struct kobject *kobj,
					   struct kobj_attribute *attr,
					   const char *buf, size_t count)
{
	int ret;

	if (!capable(CAP_SYS_MODULE))
		return -EPERM;
	mutex_lock(&ksplice_mutex);
	ret = ksplice_bench_empty(&ksplice_empty_ns);
	mutex_unlock(&ksplice_mutex);
	return ret ? ret : count;
}

static struct kobj_attribute ksplice_attr_empty =
	__ATTR(stop_machine_empty_ns, 0600, stop_machine_empty_ns_show,
	       stop_machine_empty_ns_store);

/*
 * /sys/kernel/ksplice/group: "apply ID..." or "reverse ID..." switches
 * the named updates (the targets of one update: vmlinux and each module)
 * in one stop_machine, all or none (ksplice_apply_group()). The write
 * fails with the errno of the member that failed, whose abort_cause and
 * abort_message say why; -ENOENT for an id that is not registered,
 * -EINVAL for a malformed line.
 */
static ssize_t group_store(struct kobject *kobj, struct kobj_attribute *attr,
			   const char *buf, size_t count)
{
	struct ksplice_state *sts[KSPLICE_GROUP_MAX];
	char *line, *p, *op, *id;
	unsigned int n = 0, i;
	ssize_t ret = 0;

	if (!capable(CAP_SYS_MODULE))
		return -EPERM;
	line = kstrndup(buf, count, GFP_KERNEL);
	if (!line)
		return -ENOMEM;
	p = strim(line);
	op = strsep(&p, " ");
	mutex_lock(&ksplice_mutex);
	while (p && (id = strsep(&p, " "))) {
		if (!*id)
			continue;
		if (n == KSPLICE_GROUP_MAX) {
			ret = -E2BIG;
			goto out;
		}
		sts[n] = ksplice_find_id(id);
		if (!sts[n]) {
			ret = -ENOENT;
			goto out;
		}
		for (i = 0; i < n; i++)
			if (sts[i] == sts[n]) {
				ret = -EINVAL;
				goto out;
			}
		n++;
	}
	if (!n)
		ret = -EINVAL;
	else if (!strcmp(op, "apply"))
		ret = ksplice_apply_group(sts, n);
	else if (!strcmp(op, "reverse"))
		ret = ksplice_reverse_group(sts, n);
	else
		ret = -EINVAL;
out:
	mutex_unlock(&ksplice_mutex);
	kfree(line);
	return ret ? ret : count;
}

static struct kobj_attribute ksplice_attr_group =
	__ATTR(group, 0200, NULL, group_store);

int ksplice_sysfs_init(void)
{
	int ret;

	if (pause_profile)
		static_branch_enable(&ksplice_pause_profile_key);
	ksplice_root = kobject_create_and_add("ksplice", kernel_kobj);
	if (!ksplice_root)
		return -ENOMEM;
	ret = sysfs_create_file(ksplice_root, &ksplice_attr_group.attr);
	if (ret)
		goto put;
	if (!bench)
		return 0;
	ret = sysfs_create_file(ksplice_root, &ksplice_attr_empty.attr);
	if (ret)
		goto remove_group;
	return 0;

remove_group:
	sysfs_remove_file(ksplice_root, &ksplice_attr_group.attr);
put:
	kobject_put(ksplice_root);
	return ret;
}

void ksplice_sysfs_exit(void)
{
	if (bench)
		sysfs_remove_file(ksplice_root, &ksplice_attr_empty.attr);
	sysfs_remove_file(ksplice_root, &ksplice_attr_group.attr);
	kobject_put(ksplice_root);
}
