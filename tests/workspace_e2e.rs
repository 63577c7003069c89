//! The staff workspace through the real binary: accounts made with `mesa staff …` as a
//! site's administrator would, then used to sign in to `mesa serve`.

use mesa_tests::{Server, mesa, mesa_with_stdin};

const PASSWORD: &str = "una contraseña larga y segura";

fn text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_administrator_adds_lists_and_disables_staff_accounts_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let add = |email: &str, role: &str, password: &str| {
        mesa_with_stdin(
            &[
                "staff",
                "add",
                "--email",
                email,
                "--name",
                "Luisa Méndez",
                "--role",
                role,
                "--password-stdin",
                "--data",
                data,
            ],
            &format!("{password}\n"),
        )
    };
    let out = add("Luisa@Ingressio.com", "lead", PASSWORD);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let shown: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(shown["email"], "luisa@ingressio.com");
    assert_eq!(shown["role"], "lead");
    assert!(!stdout.contains("argon2") && !stdout.contains(PASSWORD));

    let out = add("luisa@ingressio.com", "agent", PASSWORD);
    assert!(!out.status.success());
    assert!(
        text(&out).1.contains("Ya existe una cuenta con ese correo"),
        "{:?}",
        text(&out)
    );

    let out = add("pablo@ingressio.com", "agent", "corta");
    assert!(!out.status.success());
    assert!(
        text(&out).1.contains("al menos 12 caracteres"),
        "{:?}",
        text(&out)
    );

    let out = add("pablo@ingressio.com", "jefe", PASSWORD);
    assert!(!out.status.success());
    assert!(
        text(&out).1.contains("use lead or agent"),
        "{:?}",
        text(&out)
    );

    let out = add("pablo@ingressio.com", "agent", PASSWORD);
    assert!(out.status.success(), "{:?}", text(&out));

    let out = mesa(&["staff", "list", "--data", data]);
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    let listed: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let emails: Vec<&str> = listed
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["luisa@ingressio.com", "pablo@ingressio.com"]);
    assert!(
        !stdout.contains("argon2"),
        "no hash is ever shown: {stdout}"
    );

    let out = mesa(&[
        "staff",
        "disable",
        "--email",
        "pablo@ingressio.com",
        "--data",
        data,
    ]);
    assert!(out.status.success());
    let shown: serde_json::Value = serde_json::from_str(text(&out).0.trim()).unwrap();
    assert_eq!(shown["active"], false);
    let out = mesa(&[
        "staff",
        "disable",
        "--email",
        "nadie@ingressio.com",
        "--data",
        data,
    ]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("No hay una cuenta con ese correo"));
}

#[test]
fn the_workspace_of_mesa_serve_signs_in_an_account_made_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = mesa_with_stdin(
        &[
            "staff",
            "add",
            "--email",
            "luisa@ingressio.com",
            "--name",
            "Luisa",
            "--password-stdin",
            "--data",
            data.to_str().unwrap(),
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(out.status.success(), "{:?}", text(&out));
    let server = Server::start(&data);
    let (status, html) = server.get("/panel/entrar");
    assert_eq!(status, 200);
    assert!(html.contains("Iniciar sesión"));
    // A stranger asking for the queue is sent to sign in (ureq follows the redirect).
    let (status, html) = server.get("/panel/");
    assert_eq!(status, 200);
    assert!(html.contains("name=\"password\""), "{html}");
}
