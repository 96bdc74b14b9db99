<?php
// What Xero's official PHP sample (XeroAPI/xero-php-webhook) does, for the benchmark: read the
// raw body, HMAC-SHA256 it with the webhook key, base64, compare with hash_equals, answer 200 or
// 401 with no body. It persists nothing.
$key = getenv('XERO_WEBHOOK_KEY');
$raw = file_get_contents('php://input');
$computed = base64_encode(hash_hmac('sha256', $raw, $key, true));
$given = $_SERVER['HTTP_X_XERO_SIGNATURE'] ?? '';
http_response_code(hash_equals($computed, $given) ? 200 : 401);
