# ruff: noqa: E501  (data: one secret per line, as printed)
"""A corpus of realistic-looking secrets, all fabricated for these tests (random
characters in each vendor's documented shape): none of them grants anything anywhere.

Each entry is (kind, text as it would be printed or typed, the parts of it that must
never appear in any sink)."""

from __future__ import annotations

CORPUS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("AWS access key id", "AKIAQTVGQUEYQU2LNAUS", ("AKIAQTVGQUEYQU2LNAUS",)),
    ("AWS access key id", "AKIAG9FXDRS2Y4FZRJDO", ("AKIAG9FXDRS2Y4FZRJDO",)),
    ("AWS access key id", "AKIAVBHPJBTO8EMLHB1J", ("AKIAVBHPJBTO8EMLHB1J",)),
    ("AWS access key id", "ASIAVJ77QD880378VCAQ", ("ASIAVJ77QD880378VCAQ",)),
    (
        "AWS secret access key",
        "aws_secret_access_key = vTlDk7vqBp5S6jnyz3rnZ1CwENWR3SaKJ4G3B4iq",
        ("vTlDk7vqBp5S6jnyz3rnZ1CwENWR3SaKJ4G3B4iq",),
    ),
    (
        "AWS secret access key",
        "aws_secret_access_key = wajgVap4LA46Ony5EF9ERiWROGv+i7DA/bekG80u",
        ("wajgVap4LA46Ony5EF9ERiWROGv+i7DA/bekG80u",),
    ),
    (
        "AWS secret access key",
        "AWS_SECRET_ACCESS_KEY=AEFOKLSDSNdciQSuUCIRNuseqUactt+zoogH2zWd",
        ("AEFOKLSDSNdciQSuUCIRNuseqUactt+zoogH2zWd",),
    ),
    (
        "AWS secret access key in an API answer",
        "<AccessKeyId>AKIAQTVGQUEYQU2LNAUX</AccessKeyId><SecretAccessKey>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</SecretAccessKey>",
        ("PtYgjmUhBel31iEl2hpChYgCfrL1spNxnyVmihA/",),
    ),
    (
        "AWS secret access key in an API answer",
        '{"AccessKey":{"UserName":"ci-deployer","SecretAccessKey":"2O76UMFxFkM/R5Kjp1vRt+1fjORS/6ilI8ihN5KX"}}',
        ("2O76UMFxFkM/R5Kjp1vRt+1fjORS/6ilI8ihN5KX",),
    ),
    ("Google API key", "AIza6Y1VXsc1Tt_N1hZ73Ynyhq9Bh-iuQWzCGP9", ("AIza6Y1VXsc1Tt_N1hZ73Ynyhq9Bh-iuQWzCGP9",)),
    ("Google API key", "AIza5BMGYi0xuvU3vFK-TpHpWM_NmhKLDy-k37v", ("AIza5BMGYi0xuvU3vFK-TpHpWM_NmhKLDy-k37v",)),
    (
        "Google OAuth token",
        "ya29.HUMPWEAVYOvbY4d1PDRzyLuNul0xjZ3B_yCY6ZzzSIKb1GVlojdBRkSksPJ5",
        ("ya29.HUMPWEAVYOvbY4d1PDRzyLuNul0xjZ3B_yCY6ZzzSIKb1GVlojdBRkSksPJ5",),
    ),
    ("Google OAuth client secret", "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", ("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",)),
    (
        "Azure storage connection string",
        "DefaultEndpointsProtocol=https;AccountName=opsroomprod;AccountKey=GgVrQiAhswdIxR2jGQUZCfivSUfnIVAiBpGyPhI+CGH33//38gDTvCu7rahjTcL4eewi8MzDANDB5kMSUM6kyw==;EndpointSuffix=core.windows.net",
        ("GgVrQiAhswdIxR2jGQUZCfivSUfnIVAiBpGyPhI+CGH33//38gDTvCu7rahjTcL4eewi8MzDANDB5kMSUM6kyw==",),
    ),
    ("Azure client secret", "4Mo8Q~LHxC_1dpyZP5k3erHUxckp0OMY19-hN-7u", ("4Mo8Q~LHxC_1dpyZP5k3erHUxckp0OMY19-hN-7u",)),
    (
        "Azure SAS URL",
        "https://opsroom.blob.core.windows.net/backups/db.tar?sv=2022-11-02&se=2026-12-31&sr=b&sp=r&sig=xiB70QOYGm32tuhkNOKsdZtybiM1dTsmgCXBO5GTuJn%3D",
        ("xiB70QOYGm32tuhkNOKsdZtybiM1dTsmgCXBO5GTuJn",),
    ),
    (
        "Slack bot token",
        "xoxb-613835900196-6623757241864-UqAib8U8kiTnFSpCOVx22r0n",
        ("xoxb-613835900196-6623757241864-UqAib8U8kiTnFSpCOVx22r0n",),
    ),
    (
        "Slack bot token",
        "xoxb-589915435640-3520208565658-c26X2XJpHPWDEE1zIYvfkWbj",
        ("xoxb-589915435640-3520208565658-c26X2XJpHPWDEE1zIYvfkWbj",),
    ),
    (
        "Slack user token",
        "xoxp-322197974880-681246800052-9532017749117-9d78851448f326c8bea4f2ae4959038c",
        ("xoxp-322197974880-681246800052-9532017749117-9d78851448f326c8bea4f2ae4959038c",),
    ),
    (
        "Slack app-level token",
        "xapp-1-AULNGE60C66-7413019759932-21cf1b4c93fffd7829bb5ed511dc8143b0263bb1e05c7126b0199d246ac46cef",
        ("xapp-1-AULNGE60C66-7413019759932-21cf1b4c93fffd7829bb5ed511dc8143b0263bb1e05c7126b0199d246ac46cef",),
    ),
    (
        "Slack webhook URL",
        "https://hooks.slack.com/services/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",
        ("43Rvdq5OVY4ZO2seK3VP8yOk",),
    ),
    ("GitHub token", "ghp_vkSuLVRi7dBuZL9T1G0ycGSYA0MuUeJawana", ("ghp_vkSuLVRi7dBuZL9T1G0ycGSYA0MuUeJawana",)),
    ("GitHub token", "ghp_S4nVXh7qQ1CpYzAf3lpRk4T0LpQY5nAhCIcR", ("ghp_S4nVXh7qQ1CpYzAf3lpRk4T0LpQY5nAhCIcR",)),
    ("GitHub token", "gho_UM9yoP44ZxFLgw15zjKuGFMJ0CX0iDM6rpXH", ("gho_UM9yoP44ZxFLgw15zjKuGFMJ0CX0iDM6rpXH",)),
    (
        "GitHub fine-grained token",
        "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",
        ("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",),
    ),
    ("GitLab token", "glpat-QdpEJR6zRGpkdZDOkFOu", ("glpat-QdpEJR6zRGpkdZDOkFOu",)),
    ("GitLab token", "glpat-U4E1C_vikabCC7mZoN7f", ("glpat-U4E1C_vikabCC7mZoN7f",)),
    (
        "GitLab token",
        "glptt-df348e32985a4f92dda182cadb0ca7b328800d31",
        ("glptt-df348e32985a4f92dda182cadb0ca7b328800d31",),
    ),
    (
        "JSON Web Token",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiAic3ZjLWRlcGxveSIsICJpYXQiOiAxNzkwMDAwMDAwLCAic2NvcGUiOiAiZGVwbG95In0.9KnbYcJx6P_iaWs58NcZ779pVhNUsMcfHy4284cacqP",
        (
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiAic3ZjLWRlcGxveSIsICJpYXQiOiAxNzkwMDAwMDAwLCAic2NvcGUiOiAiZGVwbG95In0.9KnbYcJx6P_iaWs58NcZ779pVhNUsMcfHy4284cacqP",
        ),
    ),
    (
        "bearer header",
        "Authorization: Bearer khxdi6TS4cZmYebm0L54tVQxR6pkMcaqAXHCzbPwvHmD-sMk",
        ("khxdi6TS4cZmYebm0L54tVQxR6pkMcaqAXHCzbPwvHmD-sMk",),
    ),
    (
        "basic auth header",
        "Authorization: Basic ZGVwbG95OmJndHAxSFk5MWdLd2gyNm9IbQ==",
        ("ZGVwbG95OmJndHAxSFk5MWdLd2gyNm9IbQ==",),
    ),
    (
        "connection string with password",
        "postgresql://opsroom:J0IX9TVmdypHm94ijERa@db.internal:5432/opsroom",
        ("J0IX9TVmdypHm94ijERa",),
    ),
    (
        "connection string with password",
        "redis://default:8xqgH1VZ4srNaFX6OV3SMMvF@cache.internal:6379/0",
        ("8xqgH1VZ4srNaFX6OV3SMMvF",),
    ),
    ("connection string with password", "mysql://app:1cmwdJAkuRzcGi1N@10.0.3.7/shop", ("1cmwdJAkuRzcGi1N",)),
    (
        "connection string with password",
        "Server=tcp:sql.internal,1433;Database=billing;User ID=app;Password=XE67uvReTs78DyGh5I;Encrypt=true",
        ("XE67uvReTs78DyGh5I",),
    ),
    ("Stripe key", "sk_live_olV1PYBYDUWDqxcgZ3LmVv5qGksZAmvh", ("sk_live_olV1PYBYDUWDqxcgZ3LmVv5qGksZAmvh",)),
    ("Stripe key", "sk_live_Ru5i7teKV6KOx96bT8F13LyYbOfPqbQO", ("sk_live_Ru5i7teKV6KOx96bT8F13LyYbOfPqbQO",)),
    ("Stripe key", "rk_live_XSlK0faNiK7KHZEYioSjcDqlPc7GYV9I", ("rk_live_XSlK0faNiK7KHZEYioSjcDqlPc7GYV9I",)),
    ("Stripe webhook secret", "whsec_2i2VDudbsbYOLtVvPldS0IFC9zwbsrP7", ("whsec_2i2VDudbsbYOLtVvPldS0IFC9zwbsrP7",)),
    (
        "OpenAI key",
        "sk-proj-aY7lqJJ3iKo_BE9MD40KS31sgLopZjO6WFty5rdfn8vZ5Tud",
        ("sk-proj-aY7lqJJ3iKo_BE9MD40KS31sgLopZjO6WFty5rdfn8vZ5Tud",),
    ),
    (
        "SendGrid key",
        "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",
        ("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",),
    ),
    ("npm token", "npm_Ux9sCZXwZCsAqhSK1bQVtUdnYSKrfbpNPnm6", ("npm_Ux9sCZXwZCsAqhSK1bQVtUdnYSKrfbpNPnm6",)),
    ("HashiCorp Vault token", "hvs.hSWxPWpUZjHVUyehMYPhCtJg", ("hvs.hSWxPWpUZjHVUyehMYPhCtJg",)),
    (
        "private key (PEM)",
        "-----BEGIN RSA PRIVATE KEY-----\noIjJK1tozIP42GTeu0/lkqg9BwKYakPejvgR7y0PkZRDSEY8Za8fYWKaL6f6a2oa\n1pLduZp13tGyTb+aQ7BwQ+ZtioigWipGSlg44ftMGxEPGtjg869SvWSiS0Y6lr6k\nV43nZbli9Dm8LtjgrSjpLnOzKIAI6BuR7Dgq0cQzdKY132+XowfDlpqM/IU8jlBm\n+SYFPbfGdjBQOtgY7SpfAUuXXZBWtC7PcTdR2AYvfEC8sbPpwz3YGLrEHV9WqCsb\nqQ7mHaSRj4gKdg6JAgzsThqk10dfPlvtLWdoV0SkCLzihcM86o3RxkalNxT3ORk6\nJM3lGYg9zX6xXAnr6IfE5gxkQS6OqlnSSgpT0PAQKvvRKpGB1BGLerI39cjrLNPB\nrTTGbmrGxW9mlbvhD8OreJysXEWo+52YryVmD9zdx3kydiA33hQgvgz3xNP4vuWz\nKeYAuYIVXx5l6F7z8APMmzNVuMweJmHR/AXpnFQN35sjWExSO6A1k+M+S1oWF+A+\nOFLd+pXQl1seYbusW+PvDifosgk12yLSholBJ/2XawhnHogvzrpke64KKAVhalZ1\nNK3npXoZ+JfKda0URHiLUntT0srEELoFhdOq4BGutTSfXtJOBt/Y+yTPvL/qbhOg\n-----END RSA PRIVATE KEY-----",
        (
            "oIjJK1tozIP42GTeu0/lkqg9BwKYakPejvgR7y0PkZRDSEY8Za8fYWKaL6f6a2oa",
            "1pLduZp13tGyTb+aQ7BwQ+ZtioigWipGSlg44ftMGxEPGtjg869SvWSiS0Y6lr6k",
            "V43nZbli9Dm8LtjgrSjpLnOzKIAI6BuR7Dgq0cQzdKY132+XowfDlpqM/IU8jlBm",
            "+SYFPbfGdjBQOtgY7SpfAUuXXZBWtC7PcTdR2AYvfEC8sbPpwz3YGLrEHV9WqCsb",
            "qQ7mHaSRj4gKdg6JAgzsThqk10dfPlvtLWdoV0SkCLzihcM86o3RxkalNxT3ORk6",
            "JM3lGYg9zX6xXAnr6IfE5gxkQS6OqlnSSgpT0PAQKvvRKpGB1BGLerI39cjrLNPB",
            "rTTGbmrGxW9mlbvhD8OreJysXEWo+52YryVmD9zdx3kydiA33hQgvgz3xNP4vuWz",
            "KeYAuYIVXx5l6F7z8APMmzNVuMweJmHR/AXpnFQN35sjWExSO6A1k+M+S1oWF+A+",
            "OFLd+pXQl1seYbusW+PvDifosgk12yLSholBJ/2XawhnHogvzrpke64KKAVhalZ1",
            "NK3npXoZ+JfKda0URHiLUntT0srEELoFhdOq4BGutTSfXtJOBt/Y+yTPvL/qbhOg",
        ),
    ),
    (
        "private key (PEM)",
        "-----BEGIN PRIVATE KEY-----\nd+zPLeHqxEOPARCUbetX4JfMXP8CqYbpnkJYxgfFFHh2I013QiJdgpc8JJIU4O0+\n+oYKZ2ZKCuQglI+QaobPXIyZWhcaCXNvFMSQNMYk6QDpcxkjkIGOhljqKAkZKfCa\nXRR+3ekb3Gk9bOMJiEUba3W7OeqU9UUO7RyOajIAqs04hPOeuFjbjLIQui59/6Go\n27iy5/CQusdQkIj0FiWPTwdib6uIykvFo2Dgvoyb9nIkpN3/JqKPWETt//o2CLUq\nH1hmAZZzQZBhMzp0rErc4EWenoIULk4Z7mJMjzZd9oPIrzsu/ch89r+xzD7JcPxo\nKBchNAkyXbkUySy6lF1hFz3UXGxFX58yuAme+EXeWw2X4MoxV4dE77UrGeUa+yyc\n-----END PRIVATE KEY-----",
        (
            "d+zPLeHqxEOPARCUbetX4JfMXP8CqYbpnkJYxgfFFHh2I013QiJdgpc8JJIU4O0+",
            "+oYKZ2ZKCuQglI+QaobPXIyZWhcaCXNvFMSQNMYk6QDpcxkjkIGOhljqKAkZKfCa",
            "XRR+3ekb3Gk9bOMJiEUba3W7OeqU9UUO7RyOajIAqs04hPOeuFjbjLIQui59/6Go",
            "27iy5/CQusdQkIj0FiWPTwdib6uIykvFo2Dgvoyb9nIkpN3/JqKPWETt//o2CLUq",
            "H1hmAZZzQZBhMzp0rErc4EWenoIULk4Z7mJMjzZd9oPIrzsu/ch89r+xzD7JcPxo",
            "KBchNAkyXbkUySy6lF1hFz3UXGxFX58yuAme+EXeWw2X4MoxV4dE77UrGeUa+yyc",
        ),
    ),
    (
        "private key (PEM)",
        "-----BEGIN EC PRIVATE KEY-----\n/CijElj/DfunaIax6JNNQGnRdm3OEDeqvKOMnbXKGYMT51ILHGoynWiWbwzmCcrJ\nRZFRASBw+MugZz5Ih6To5kSTobzMX3xqmo0C5/tAc54uw3W627g1UavFGTowS/O0\nw0zXjODhGEK6qZlOlIiSxDc2i9zm4EqOUyxB4z4BDeQfdf2qD1p21vpXz4i+Ldqu\n-----END EC PRIVATE KEY-----",
        (
            "/CijElj/DfunaIax6JNNQGnRdm3OEDeqvKOMnbXKGYMT51ILHGoynWiWbwzmCcrJ",
            "RZFRASBw+MugZz5Ih6To5kSTobzMX3xqmo0C5/tAc54uw3W627g1UavFGTowS/O0",
            "w0zXjODhGEK6qZlOlIiSxDc2i9zm4EqOUyxB4z4BDeQfdf2qD1p21vpXz4i+Ldqu",
        ),
    ),
    (
        "private key (OpenSSH)",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nxG+M9dF6KTGbhW6j/kfannBflZRhun//1ad/ikUyKsdr0gXFYaf/4LENf2RDknEt\nUsIWuE92T6rnDWYOXverGeKinnOI1u5IDx+Asm019W95cdX2SpMXIXTv/N2B4chC\nEofbtvjKMloR9DHPfGsH4Q3V5W8U18QgPlwPIbZQ5RJi4VdjaYUwP7XFX11WKfpA\nHrL1jMg5rMnsuoDO6rXrU/ZQ+c/ULPkJnAIPLhC5ldooElGK6xLfebEZkwsrntY7\nGzQl27hBdeV8NGMwga7hLjoOYXbGYfEy0rVpUwPUsqkjuIkqVuVQ79xEI95doOKG\naFaGDwCehMUMRBkXTadOGR54bgD6rJI1VbAMJr21K4lrl8ERRq9F2DBVH4G8jJeA\nms9505PSKT6XG0ugXCFXanDJ8fF/OmE0w946c/tFP1dbFHD1eWb2SoeLe2UcmtDF\n-----END OPENSSH PRIVATE KEY-----",
        (
            "xG+M9dF6KTGbhW6j/kfannBflZRhun//1ad/ikUyKsdr0gXFYaf/4LENf2RDknEt",
            "UsIWuE92T6rnDWYOXverGeKinnOI1u5IDx+Asm019W95cdX2SpMXIXTv/N2B4chC",
            "EofbtvjKMloR9DHPfGsH4Q3V5W8U18QgPlwPIbZQ5RJi4VdjaYUwP7XFX11WKfpA",
            "HrL1jMg5rMnsuoDO6rXrU/ZQ+c/ULPkJnAIPLhC5ldooElGK6xLfebEZkwsrntY7",
            "GzQl27hBdeV8NGMwga7hLjoOYXbGYfEy0rVpUwPUsqkjuIkqVuVQ79xEI95doOKG",
            "aFaGDwCehMUMRBkXTadOGR54bgD6rJI1VbAMJr21K4lrl8ERRq9F2DBVH4G8jJeA",
            "ms9505PSKT6XG0ugXCFXanDJ8fF/OmE0w946c/tFP1dbFHD1eWb2SoeLe2UcmtDF",
        ),
    ),
    (
        "certificate with its key",
        "-----BEGIN CERTIFICATE-----\ncdBcMsyxrp4ppiODs5P+lSxRIJpPbBV02a56mythVvGIvi0l6Zx2OV9H0HGVH3AJ\nUxlvnEJd61xem0opgcIePze50ZnLIgI3zjDShrmZP6LtrOzuzt6CHdyY32yN7jjH\nFzIRvvF6yPFsWqJgVz1wGXM6TZT/Nq/iqhoiBiRE+5PHu8pC5S65s6dZnt01boq4\nLZfFIqsPfYSQqoM3yOY8kbDdXwBr5BmqUeV7Bc1xw6Ukwywhb2ych1ELfabRA95b\nI3Z4dnCO6baVDNz5k6NH5NW7Y24YThmKzdn8gUasSs0shdBA6ptMRhd9RICHdTOP\n-----END CERTIFICATE-----\n-----BEGIN ENCRYPTED PRIVATE KEY-----\nk7y5aD1KKi4lfxRgIMktAHVHiq9WpuxD68meslQw6Ty/IcGmRKWWpYVvtKZQyg5g\n3JAnvUSmZA9pvp82+2i0yCVy4bLCA/N5iP5KcNJ7B2t561YOMFvVzr8/nvOdBpE8\nk2XamlRbHLjgK0yZ0oybaKUUqg1YyeQTL3epGReMwE36xzFD+/xtZuobpSOZx/vd\nLbqcIN66nZlADc3to7OxQiFuUEeTFMVQQmvobgHfX6ILbbf/bCVrRS+qnHDMAtCr\nPas33d+NP7r2tSpuhf9IPt8XSC6gjmYl8/kgHMS6z2ZzT5UFXBZXNLZ8UzyKJYim\n5XnitjRo6xoEi2SkyjPfCsE3GWiQeFz3Ln7Yag+qKQSLVwPwlB0U1CLYKwnEp16d\n-----END ENCRYPTED PRIVATE KEY-----",
        (
            "k7y5aD1KKi4lfxRgIMktAHVHiq9WpuxD68meslQw6Ty/IcGmRKWWpYVvtKZQyg5g",
            "3JAnvUSmZA9pvp82+2i0yCVy4bLCA/N5iP5KcNJ7B2t561YOMFvVzr8/nvOdBpE8",
            "k2XamlRbHLjgK0yZ0oybaKUUqg1YyeQTL3epGReMwE36xzFD+/xtZuobpSOZx/vd",
            "LbqcIN66nZlADc3to7OxQiFuUEeTFMVQQmvobgHfX6ILbbf/bCVrRS+qnHDMAtCr",
            "Pas33d+NP7r2tSpuhf9IPt8XSC6gjmYl8/kgHMS6z2ZzT5UFXBZXNLZ8UzyKJYim",
            "5XnitjRo6xoEi2SkyjPfCsE3GWiQeFz3Ln7Yag+qKQSLVwPwlB0U1CLYKwnEp16d",
        ),
    ),
    (
        "GCP service-account key (JSON)",
        '{\n  "type": "service_account",\n  "project_id": "opsroom-prod",\n  "private_key_id": "0877f8f2729e948c4df4ce342ba2a414bf6440c1",\n  "private_key": "-----BEGIN PRIVATE KEY-----\\n7b547lm2u56HMjc06+K9mUW2up2UkguZastyvIUaqRB+SavwTVohAywR2e/AM6og\\nUCHRXURoi2jOlSiBFiD1YQMwQYnolYqmPbJm8Ffn7dBxnCmK+OCrd3XBQzekcptA\\n4qxQ0WvhijAagCK/kEu1vxNErWp+IlkMP+wKIpSzm3Pt5+AHO9ogFRuOwBwF+a/p\\nyhVePlQEG475ELIrGaRq8QuSSl69kiV18nk8rND74KV2FB/unjAV7CYUF6+e7TxD\\n/Il+tIhRJG+YfKP5s29jWaWoK668iiAaRuTijYi/hZTiB9rP/qxTI/VONL0o660k\\nyoOxorrFWiZAI8T2+YYiiZbzftFQEgaYfJfFsKUBwsbOxQc88RgBqflR8W3esW40\\n-----END PRIVATE KEY-----\\n",\n  "client_email": "deployer@opsroom-prod.iam.gserviceaccount.com",\n  "client_id": "776436334194131565304",\n  "token_uri": "https://oauth2.googleapis.com/token"\n}',
        (
            "0877f8f2729e948c4df4ce342ba2a414bf6440c1",
            "7b547lm2u56HMjc06+K9mUW2up2UkguZastyvIUaqRB+SavwTVohAywR2e/AM6og",
            "UCHRXURoi2jOlSiBFiD1YQMwQYnolYqmPbJm8Ffn7dBxnCmK+OCrd3XBQzekcptA",
            "4qxQ0WvhijAagCK/kEu1vxNErWp+IlkMP+wKIpSzm3Pt5+AHO9ogFRuOwBwF+a/p",
            "yhVePlQEG475ELIrGaRq8QuSSl69kiV18nk8rND74KV2FB/unjAV7CYUF6+e7TxD",
            "/Il+tIhRJG+YfKP5s29jWaWoK668iiAaRuTijYi/hZTiB9rP/qxTI/VONL0o660k",
            "yoOxorrFWiZAI8T2+YYiiZbzftFQEgaYfJfFsKUBwsbOxQc88RgBqflR8W3esW40",
        ),
    ),
    (
        "DigitalOcean token",
        "dop_v1_709cb80a7ee6aae25b2529f006a6bbea6d45740f85641ff0bbc0a53dfe10c407",
        ("dop_v1_709cb80a7ee6aae25b2529f006a6bbea6d45740f85641ff0bbc0a53dfe10c407",),
    ),
    ("Twilio API key", "SK8424ed017031d52eb3ebc7263fd57950", ("SK8424ed017031d52eb3ebc7263fd57950",)),
    (
        "PyPI token",
        "pypi-AgEIcHlwaS5vcmc0eE9nGh9cKA_4of5dMbMffCecwARyoTpuPpC7tv_Co9xbfbiHcFZepWqEb39",
        ("pypi-AgEIcHlwaS5vcmc0eE9nGh9cKA_4of5dMbMffCecwARyoTpuPpC7tv_Co9xbfbiHcFZepWqEb39",),
    ),
    # key=value and --flag forms sit where the test deploys them (version=<quoted>): typed as a
    # note or a login they would be refused as unknown arguments, before any run
    (
        "HTTP header with a secret name",
        "X-Api-Key: CpoEPrNFk7Xa7Vo0wlGv1lpR81hcRLgw",
        ("CpoEPrNFk7Xa7Vo0wlGv1lpR81hcRLgw",),
    ),
    ("keyed, glued to its prefix (libpq)", "PGPASSWORD=UFawfnXlgH1JnxlJ", ("UFawfnXlgH1JnxlJ",)),
    (
        "XML element",
        "<credentials><username>ci</username><password>br0o4nArJKpA</password></credentials>",
        ("br0o4nArJKpA",),
    ),
    (
        "Authorization header, Token scheme",
        "Authorization: Token 87551d3ca99e23dcbd8dedb2fad0a24975e06fb6",
        ("87551d3ca99e23dcbd8dedb2fad0a24975e06fb6",),
    ),
    ("keyed, short word apart", "DB_PASS=Pv4bxOe5Lxl5S8", ("Pv4bxOe5Lxl5S8",)),
    (
        "password in a URL with no user",
        "redis://:14eA0v3WayDmN3kJhZcoBu@cache.internal:6379/0",
        ("14eA0v3WayDmN3kJhZcoBu",),
    ),
    ("quoted value with spaces", 'passphrase: "ufl9bs hfhdsh otxc5v"', ("ufl9bs", "hfhdsh", "otxc5v")),
    ("keyed, camelCase", '{"clientSecret": "yLaDGJ9zmaKs5rYkFc"}', ("yLaDGJ9zmaKs5rYkFc",)),
    ("Docker Hub token", "dckr_pat_HW598McjHnglHCQTtwId2W8Ge9z", ("dckr_pat_HW598McjHnglHCQTtwId2W8Ge9z",)),
    ("Hugging Face token", "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", ("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",)),
    ("keyed, camelCase", "accessToken=KTmfb729qKLmymMIXoiaSXed&expires_in=3600", ("KTmfb729qKLmymMIXoiaSXed",)),
    (
        "Grafana service account token",
        "glsa_3uevWXY7fzz2d8IXWwKWESLIbZx1xZr5_1676644a",
        ("glsa_3uevWXY7fzz2d8IXWwKWESLIbZx1xZr5_1676644a",),
    ),
    (
        "Atlassian API token",
        "ATATT3xFfGF0SkqLeGUh7WopjGgUE5hKvH6XMOTdkfLBQUMekwukDZ_qGtwjyclvwp95YQhLf35w0e0t0ctqOYqlNUBlU13K4TkFPfRFXzw3994mbGsRfoJYKZUr-nooN736W8nPQ4mopuJnuMS-3XoWnfaemwMgsZCI_9lhrtKyx2k3S5Fa8Ia4UnsphTd1",
        (
            "ATATT3xFfGF0SkqLeGUh7WopjGgUE5hKvH6XMOTdkfLBQUMekwukDZ_qGtwjyclvwp95YQhLf35w0e0t0ctqOYqlNUBlU13K4TkFPfRFXzw3994mbGsRfoJYKZUr-nooN736W8nPQ4mopuJnuMS-3XoWnfaemwMgsZCI_9lhrtKyx2k3S5Fa8Ia4UnsphTd1",
        ),
    ),
    ("command-line flag", "mysqladmin --user=root --password 5QON7RiOdEt2V1LPJLGp status", ("5QON7RiOdEt2V1LPJLGp",)),
    ("New Relic key", "NRAK-YU7HJT0S8LEA2WJRBOD59HMCW81", ("NRAK-YU7HJT0S8LEA2WJRBOD59HMCW81",)),
    (
        "Linear key",
        "lin_api_30DCuqVq46Mj5lAEn5TCTorXo1wgHHTYSntISKJT",
        ("lin_api_30DCuqVq46Mj5lAEn5TCTorXo1wgHHTYSntISKJT",),
    ),
    ("Databricks token", "dapi245b43608bdd0b894880909e93a5ae95", ("dapi245b43608bdd0b894880909e93a5ae95",)),
    (
        "Sentry token",
        "sntrys_4gRXXuJn079ywSzOWF4buuSFW/XuIC=OvzbgfqIFxq9nAaUdFk0fNWoe9fLX",
        ("sntrys_4gRXXuJn079ywSzOWF4buuSFW/XuIC=OvzbgfqIFxq9nAaUdFk0fNWoe9fLX",),
    ),
    (
        "age secret key",
        "AGE-SECRET-KEY-13QED2EK31LVKYZCWRWBXHH2VR2F683DPHWFGBKUXWSBD5JLGUVVQZP8JUB",
        ("AGE-SECRET-KEY-13QED2EK31LVKYZCWRWBXHH2VR2F683DPHWFGBKUXWSBD5JLGUVVQZP8JUB",),
    ),
    (
        "Groq key",
        "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",
        ("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",),
    ),
    (
        "Brevo key",
        "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",
        ("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",),
    ),
    (
        "Heroku token",
        "HRKU-m0pR7ijVuXRY-tfKT9YPjQ-QzXtNSVsmlCSeY2oneQrj9AonJQpZN-ZfHDv5",
        ("HRKU-m0pR7ijVuXRY-tfKT9YPjQ-QzXtNSVsmlCSeY2oneQrj9AonJQpZN-ZfHDv5",),
    ),
    ("Mailchimp key", "a0cd79998e37046b505e73caccf31e79-us14", ("a0cd79998e37046b505e73caccf31e79-us14",)),
    ("Square token", "sq0atp-qWwV83uzyzkutBIOuIzsqL", ("sq0atp-qWwV83uzyzkutBIOuIzsqL",)),
)


def needles() -> list[str]:
    return [n for _, _, parts in CORPUS for n in parts]
