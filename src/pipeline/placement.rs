//! Where the threads started at the run's end run. A new thread goes to the
//! CPU with the lowest recent load, and just after the workers exit that is
//! still the CPU of the thread that starts it, although another one sits
//! idle: on two cores, the two threads rendering the service records shared
//! one CPU for the whole of the run's end while the other stayed idle (the
//! scheduler's own record of the run, `perf sched timehist`). A helper keeps
//! off the CPU of the thread that started it when it may run elsewhere.

use nix::sched::{sched_getaffinity, sched_getcpu, sched_setaffinity};
use nix::unistd::Pid;

/// The CPU the calling thread runs on now, for a helper it starts to keep
/// off (`keep_off`); `None` where it cannot be told.
pub(super) fn current_cpu() -> Option<usize> {
    sched_getcpu().ok()
}

/// Keeps the calling thread off `cpu` when another CPU it may run on exists
/// (never narrowing it to none: an affinity set from outside, such as
/// `taskset`'s, is kept otherwise). Does nothing where the affinity cannot
/// be read or set.
pub(super) fn keep_off(cpu: Option<usize>) {
    let Some(cpu) = cpu else { return };
    let me = Pid::from_raw(0);
    let Ok(mut allowed) = sched_getaffinity(me) else { return };
    let may_run_on = |set: &nix::sched::CpuSet, c: usize| set.is_set(c).unwrap_or(false);
    let elsewhere = (0..nix::sched::CpuSet::count()).any(|c| c != cpu && may_run_on(&allowed, c));
    if !may_run_on(&allowed, cpu) || !elsewhere {
        return;
    }
    if allowed.unset(cpu).is_ok() {
        let _ = sched_setaffinity(me, &allowed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A thread told to keep off the CPU its starter runs on runs elsewhere
    /// (when this machine has another CPU for it), and a thread with a
    /// single CPU allowed keeps it.
    #[test]
    fn a_helper_leaves_its_starters_cpu_but_never_its_last_one() {
        let allowed = sched_getaffinity(Pid::from_raw(0)).expect("affinity readable");
        let cpus: Vec<usize> = (0..nix::sched::CpuSet::count()).filter(|&c| allowed.is_set(c).unwrap_or(false)).collect();
        assert!(!cpus.is_empty());
        let starter = current_cpu().expect("the CPU is known on Linux");
        let helper = std::thread::spawn(move || {
            keep_off(Some(starter));
            let mine = sched_getaffinity(Pid::from_raw(0)).expect("affinity readable");
            (mine.is_set(starter).unwrap_or(true), current_cpu())
        })
        .join()
        .expect("no panic");
        let (starter_still_allowed, helper_cpu) = helper;
        if cpus.len() > 1 {
            assert!(!starter_still_allowed, "CPU {starter} still allowed to the helper");
            assert!(helper_cpu.is_some_and(|c| c != starter), "the helper ran on {helper_cpu:?}, its starter's CPU being {starter}");
        } else {
            assert!(starter_still_allowed, "the only CPU taken away");
            assert_eq!(helper_cpu, Some(starter));
        }
        // One CPU allowed: it stays allowed.
        let only = std::thread::spawn(move || {
            let mut one = nix::sched::CpuSet::new();
            one.set(starter).expect("a CPU index");
            sched_setaffinity(Pid::from_raw(0), &one).expect("narrowed to one CPU");
            keep_off(Some(starter));
            let mine = sched_getaffinity(Pid::from_raw(0)).expect("affinity readable");
            (mine.is_set(starter).unwrap_or(false), current_cpu())
        })
        .join()
        .expect("no panic");
        assert_eq!(only, (true, Some(starter)));
    }
}
