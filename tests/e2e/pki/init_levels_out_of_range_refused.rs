//! `portcullis pki init` refuses `--levels 0` and `--levels 6` (a root plus at most four
//! subordinate CAs) with a message naming the allowed range, and writes nothing.

use crate::support::*;

#[test]
fn zero_and_six_levels_are_refused_with_the_allowed_range() {
    for levels in ["0", "6"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ca");
        let mut a = args(["pki", "init", "--dir"]);
        a.push(dir.clone().into());
        a.extend(args(["--levels", levels]));
        let out = portcullis(a);
        assert!(
            !out.ok() && out.code.is_some(),
            "--levels {levels} must be refused: {out:#?}"
        );
        assert!(
            out.stderr.contains("--levels") && out.stderr.contains("between 1 and 5"),
            "--levels {levels}: the message must name the option and the range 1 to 5: {out:#?}"
        );
        assert!(
            wrote(&out).is_empty(),
            "--levels {levels}: nothing may be written: {out:#?}"
        );
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .flat_map(|e| {
                let p = e.unwrap().path();
                if p.is_dir() {
                    std::fs::read_dir(&p)
                        .unwrap()
                        .map(|e| e.unwrap().path())
                        .collect::<Vec<_>>()
                } else {
                    vec![p]
                }
            })
            .collect();
        assert!(
            left.is_empty(),
            "--levels {levels}: files were written: {left:?}"
        );
    }
}

#[test]
fn the_boundaries_one_and_five_are_accepted() {
    for levels in ["1", "5"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ca");
        pki_init(&dir, &["--levels", levels]);
        assert_eq!(
            cert_infos(&dir.join("truststore.pem")).len(),
            levels.parse::<usize>().unwrap()
        );
    }
}
